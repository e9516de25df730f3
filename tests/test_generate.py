"""The streaming sampler and the scorer: exact filters, cache-vs-full-forward agreement, clean text."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch

from tinygpt_tui.config import EOT, ModelConfig, SamplingConfig, TinyGPTError
from tinygpt_tui.generate import (
    collect_text,
    filtered_distribution,
    generate,
    generate_samples,
    slide_keep,
)
from tinygpt_tui.model import GPT, KVCache
from tinygpt_tui.present import token_label
from tinygpt_tui.scoring import score_text

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------------
# Test doubles: small tokenizers with the project's Tokenizer interface, and a scripted model


class ByteTok:
    """Byte-level tokenizer whose extra tokens split the emoji 😀 (f0 9f 98 80) in two halves."""

    kind = "bpe"

    def __init__(self, extra: tuple[bytes, ...] = (b"\xf0\x9f", b"\x98\x80", b"he", b"ll", b" soft")):
        self.vocab = [bytes([i]) for i in range(256)] + list(extra)
        self.eot_id = len(self.vocab)
        self.vocab_size = self.eot_id + 1
        self.special_tokens = {EOT: self.eot_id}
        self.by_bytes = {b: i for i, b in enumerate(self.vocab)}

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for k, part in enumerate(text.split(EOT)):
            if k:
                ids.append(self.eot_id)
            data, i = part.encode(), 0
            while i < len(data):
                for n in (5, 2, 1):  # longest match first
                    if data[i : i + n] in self.by_bytes:
                        ids.append(self.by_bytes[data[i : i + n]])
                        i += n
                        break
        return ids

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", "replace")

    def token_bytes(self, i: int) -> bytes:
        return EOT.encode() if i == self.eot_id else self.vocab[i]

    def piece(self, i: int) -> str:
        return EOT if i == self.eot_id else self.vocab[i].decode("latin-1").replace(" ", "Ġ")

    def hex(self, i: int) -> str:
        return self.token_bytes(i).hex(" ")

    def byte_lengths(self) -> np.ndarray:
        return np.array([len(b) for b in self.vocab] + [1])

    def can_encode(self, text: str) -> str | None:
        return None


class CharTok(ByteTok):
    """Character-level tokenizer over a small alphabet (can_encode rejects anything else)."""

    kind = "char"

    def __init__(self, chars: str = "abcdefgh \n."):
        self.chars = list(chars)
        self.vocab = [c.encode() for c in self.chars]
        self.eot_id = len(self.vocab)
        self.vocab_size = self.eot_id + 1
        self.special_tokens = {EOT: self.eot_id}

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        for k, part in enumerate(text.split(EOT)):
            if k:
                out.append(self.eot_id)
            out.extend(self.chars.index(c) for c in part)
        return out

    def can_encode(self, text: str) -> str | None:
        return next((c for c in text.replace(EOT, "") if c not in self.chars), None)


class ScriptedModel(torch.nn.Module):
    """Stands in for GPT: emits ``script[k]`` at its k-th forward pass, whatever the input, and
    records what it was fed so tests can see prefills and window slides."""

    def __init__(self, script: list[int], vocab_size: int, block_size: int = 64):
        super().__init__()
        self.config = ModelConfig(n_layer=1, n_head=1, n_embd=4, block_size=block_size, vocab_size=vocab_size)
        self.lm_head = torch.nn.Linear(4, vocab_size, bias=False)
        self.script = script
        self.fed: list[list[int]] = []

    def new_kv_cache(self, batch_size: int = 1, capacity: int | None = None) -> KVCache:
        cap = min(capacity or self.config.block_size, self.config.block_size)
        return KVCache(k=[torch.zeros(batch_size, 1, cap, 1)], v=[torch.zeros(batch_size, 1, cap, 1)])

    def forward(self, idx, targets=None, *, kv_cache=None, return_attention=False, last_only=False):
        from tinygpt_tui.model import GPTOutput

        assert kv_cache.pos + idx.size(1) <= self.config.block_size, "fed past the context"
        kv_cache.pos += idx.size(1)
        self.fed.append(idx[0].tolist())
        logits = torch.full((1, 1, self.config.vocab_size), -20.0)
        logits[0, 0, self.script[min(len(self.fed) - 1, len(self.script) - 1)]] = 20.0
        return GPTOutput(logits)


def micro_gpt(vocab_size: int, block_size: int = 16, seed: int = 0, scale: float = 1.0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=block_size, vocab_size=vocab_size))
    if scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(scale)  # sharper, untied-looking logits: no near-ties in the argmax
    return model.eval()


GREEDY = SamplingConfig(temperature=0.0, top_k=0, top_p=1.0, max_new_tokens=10, seed=0)


# --------------------------------------------------------------------------------------------------
# Filters on hand-made logits


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0, 5.0])
    ids, probs, cut = filtered_distribution(logits, 1.0, top_k=2)
    assert ids.tolist() == [4, 1]
    e = np.exp([1.0, 3.0, 2.0, 0.0, 5.0])
    np.testing.assert_allclose(probs.numpy(), [e[4] / (e[4] + e[1]), e[1] / (e[4] + e[1])], rtol=1e-6)
    assert math.isclose(cut, 1 - (e[4] + e[1]) / e.sum(), rel_tol=1e-5)


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [(0.49, [2]), (0.51, [2, 0]), (0.74, [2, 0]), (0.76, [2, 0, 4]), (0.9, [2, 0, 4, 3]), (0.99, [2, 0, 4, 3, 1])],
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
    # sorted: 0.5 (id 2), 0.25 (id 0), 0.125 (id 4), 0.09375 (id 3), 0.03125 (id 1); cumulative
    # 0.5, 0.75, 0.875, 0.96875, 1 (thresholds stay clear of those so rounding cannot matter)
    p = torch.tensor([0.25, 0.03125, 0.5, 0.09375, 0.125])
    ids, probs, cut = filtered_distribution(p.log(), 1.0, top_p=top_p)
    assert ids.tolist() == kept
    np.testing.assert_allclose(probs.numpy(), (p[kept] / p[kept].sum()).numpy(), rtol=1e-5)
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-6)
    assert math.isclose(cut, 1.0 - float(p[kept].sum()), abs_tol=1e-6)


def test_top_p_of_one_and_top_k_of_zero_filter_nothing():
    p = torch.tensor([0.25, 0.03125, 0.5, 0.09375, 0.125])
    ids, probs, cut = filtered_distribution(p.log(), 1.0, top_k=0, top_p=1.0)
    assert sorted(ids.tolist()) == [0, 1, 2, 3, 4] and cut == 0.0
    np.testing.assert_allclose(probs[ids.argsort()].numpy(), p.numpy(), rtol=1e-5)


def test_top_k_then_top_p_renormalises_before_the_cut():
    p = torch.tensor([0.5, 0.25, 0.125, 0.0625, 0.0625])
    # top-k=3 leaves 4/7, 2/7, 1/7; top_p=0.8 needs 4/7 + 2/7 = 0.857 -> two tokens
    ids, probs, cut = filtered_distribution(p.log(), 1.0, top_k=3, top_p=0.8)
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(probs.numpy(), [2 / 3, 1 / 3], rtol=1e-6)
    assert math.isclose(cut, 0.25, abs_tol=1e-6)


def test_temperature_scales_the_distribution_and_zero_is_greedy():
    logits = torch.tensor([0.0, 1.0, 2.0])
    ids, probs, _ = filtered_distribution(logits, 2.0)
    np.testing.assert_allclose(probs[ids.argsort()].numpy(), torch.softmax(logits / 2, -1).numpy(), rtol=1e-6)
    ids, probs, cut = filtered_distribution(logits, 0.0, top_k=1, top_p=0.1)
    assert ids.tolist() == [2] and probs.tolist() == [1.0]
    assert math.isclose(cut, 1 - float(torch.softmax(logits, -1)[2]), rel_tol=1e-6)


def test_the_smallest_temperature_without_filters_is_near_greedy_not_nan():
    logits = torch.tensor([0.0, 1.0, 3.0, 2.0]) * 1e36  # unshifted, logits / T would overflow float32
    ids, probs, cut = filtered_distribution(logits, 1e-3, top_k=0, top_p=1.0)
    assert torch.isfinite(probs).all() and math.isclose(float(probs.sum()), 1.0, rel_tol=1e-6)
    assert float(probs[ids.tolist().index(2)]) == 1.0 and cut == 0.0


# --------------------------------------------------------------------------------------------------
# Generation with the real model


def test_greedy_with_cache_equals_full_forward_argmax_at_every_step_across_a_slide():
    tok = CharTok()
    params = SamplingConfig(temperature=0.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=0, alternatives=3)
    prompt = "abc dd"
    for seed in range(20):  # a random model may pick <|endoftext|> early; take one that runs 20 steps
        model = micro_gpt(tok.vocab_size, block_size=12, seed=seed, scale=20.0)
        records = list(generate(model, tok, prompt, params))
        if len(records) == 20:
            break
    assert len(records) == 20
    ctx = tok.encode(prompt)
    keep = slide_keep(12)
    slid = 0
    for rec in records:
        with torch.no_grad():
            full = model(torch.tensor([ctx])).logits[0, -1]
        probs = torch.softmax(full, -1)
        assert rec.id == int(full.argmax()), f"step {rec.index}"
        assert rec.rank == 1 and rec.alternatives[0].id == rec.id
        assert math.isclose(rec.prob, float(probs[rec.id]), rel_tol=1e-4)
        assert math.isclose(rec.prob_sampled, 1.0)
        assert math.isclose(rec.cut_mass, 1 - float(probs[rec.id]), abs_tol=1e-5)
        ctx.append(rec.id)
        if len(ctx) > 12:  # what the sampler does when the context is full
            ctx = ctx[-keep:]
            slid += 1
    assert slid >= 2
    noted = [r for r in records if r.note]
    assert len(noted) == slid and all(f"last {keep} tokens" in r.note for r in noted)


def test_full_and_filtered_distributions_sum_to_one_and_numbers_agree():
    tok = CharTok()
    V = tok.vocab_size
    model = micro_gpt(V, scale=5.0)
    params = SamplingConfig(temperature=0.9, top_k=5, top_p=0.9, max_new_tokens=6, seed=3, alternatives=V)
    ctx = tok.encode("abc")
    for rec in generate(model, tok, "abc", params):
        with torch.no_grad():
            logits = model(torch.tensor([ctx])).logits[0, -1]
        full = torch.softmax(logits, -1)
        assert len(rec.alternatives) == V
        assert math.isclose(sum(a.prob for a in rec.alternatives), 1.0, rel_tol=1e-5)
        entropy = -float((full * full.log()).sum()) / math.log(2)
        assert math.isclose(rec.entropy_bits, entropy, rel_tol=1e-4)
        assert math.isclose(rec.surprisal_bits, -math.log2(rec.prob), rel_tol=1e-6)
        assert rec.rank == int((full > full[rec.id]).sum()) + 1
        ids, probs, cut = filtered_distribution(logits, 0.9, 5, 0.9)
        assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-6)
        assert rec.id in ids.tolist()
        assert math.isclose(rec.prob_sampled, float(probs[ids.tolist().index(rec.id)]), rel_tol=1e-4)
        assert math.isclose(rec.cut_mass, cut, abs_tol=1e-5)
        ctx.append(rec.id)


def test_a_seed_reproduces_and_samples_use_successive_seeds():
    tok = CharTok()
    model = micro_gpt(tok.vocab_size)
    params = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=42, num_samples=2)
    first = [r.id for r in generate(model, tok, "ab", params)]
    again = [r.id for r in generate(model, tok, "ab", params)]
    assert first == again
    both = list(generate_samples(model, tok, "ab", params))
    assert [r.sample for r in both] == sorted(r.sample for r in both) and both[-1].sample == 1
    assert [r.id for r in both if r.sample == 0] == first
    seed43 = [r.id for r in generate(model, tok, "ab", SamplingConfig(**{**params.__dict__, "seed": 43}))]
    assert [r.id for r in both if r.sample == 1] == seed43
    assert seed43 != first  # 12 near-uniform draws from 12 tokens: equal only by a miracle
    # inspection never changes what is sampled
    plain = list(generate(model, tok, "ab", params, inspect=False))
    assert [r.id for r in plain] == first and math.isnan(plain[0].prob)


def test_records_are_json_friendly_and_the_model_mode_is_restored():
    tok = ByteTok()
    model = micro_gpt(tok.vocab_size)
    model.train()
    recs = list(generate(model, tok, "hello", SamplingConfig(max_new_tokens=3, seed=1)))
    assert model.training
    d = json.loads(json.dumps(recs[0].to_dict()))
    assert d["bytes"] == recs[0].bytes.hex() and d["id"] == recs[0].id
    assert len(d["alternatives"]) == 5 and set(d["alternatives"][0]) == {"id", "piece", "text", "prob"}


def test_empty_prompt_starts_from_endoftext_and_unrepresentable_prompt_is_a_clear_error():
    tok = CharTok()
    model = ScriptedModel([0, 1, 2], tok.vocab_size)
    list(generate(model, tok, "", GREEDY))
    assert model.fed[0] == [tok.eot_id]
    with pytest.raises(TinyGPTError) as err:
        list(generate(micro_gpt(tok.vocab_size), tok, "abz", GREEDY))
    assert "'z'" in err.value.message and "char" in err.value.message


def test_cancel_stops_the_stream():
    tok = CharTok()
    cancel = threading.Event()
    out = []
    for rec in generate(micro_gpt(tok.vocab_size), tok, "a", SamplingConfig(max_new_tokens=50, seed=0), cancel=cancel):
        out.append(rec)
        if len(out) == 3:
            cancel.set()
    assert len(out) == 3


# --------------------------------------------------------------------------------------------------
# Stops, clean text and the sliding window (scripted model)


def test_stops_at_endoftext_at_stop_strings_spanning_tokens_and_at_max_tokens():
    tok = CharTok()
    a, b, c, nl = (tok.chars.index(ch) for ch in "abc\n")
    recs = list(generate(ScriptedModel([a, b, tok.eot_id, c], tok.vocab_size), tok, "a", GREEDY))
    assert [r.finish for r in recs] == [None, None, "eot"] and recs[-1].text == "" and recs[-1].piece == EOT
    params = SamplingConfig(temperature=0.0, max_new_tokens=10, seed=0, stop=["bc"])
    recs = list(generate(ScriptedModel([a, b, c, a, a], tok.vocab_size), tok, "a", params))
    assert collect_text(recs) == "abc" and recs[-1].finish == "stop"
    params = SamplingConfig(temperature=0.0, max_new_tokens=10, seed=0, stop=["\n", "zz"])
    recs = list(generate(ScriptedModel([a, nl, c], tok.vocab_size), tok, "a", params))
    assert collect_text(recs) == "a\n"
    # a stop string inside the prompt does not count
    recs = list(generate(ScriptedModel([a] * 5, tok.vocab_size), tok, "bc", SamplingConfig(
        temperature=0.0, max_new_tokens=4, seed=0, stop=["bc"])))
    assert len(recs) == 4 and recs[-1].finish == "length" and all(r.finish is None for r in recs[:-1])


def test_a_character_split_over_tokens_is_held_back_and_never_shows_replacement():
    tok = ByteTok()
    half1, half2 = tok.by_bytes[b"\xf0\x9f"], tok.by_bytes[b"\x98\x80"]
    x = ord("x")
    recs = list(generate(ScriptedModel([x, half1, half2, x], tok.vocab_size), tok, "a",
                         SamplingConfig(temperature=0.0, max_new_tokens=4, seed=0)))
    assert [r.text for r in recs] == ["x", "", "\U0001f600", "x"]
    assert recs[1].display == "<f0 9f>" and recs[1].hex == "f0 9f" and recs[2].display == "<98 80>"
    assert "\ufffd" not in collect_text(recs)
    # a character left incomplete at the end is flushed (as U+FFFD: those bytes are not text)
    recs = list(generate(ScriptedModel([x, half1], tok.vocab_size), tok, "a",
                         SamplingConfig(temperature=0.0, max_new_tokens=2, seed=0)))
    assert collect_text(recs) == "x\ufffd"
    assert token_label("é".encode()) == "é" and token_label(b"\xc3") == "<c3>"


def test_window_slides_with_a_note_and_an_overlong_prompt_is_cropped():
    tok = CharTok()
    a = tok.chars.index("a")
    model = ScriptedModel([a] * 100, tok.vocab_size, block_size=8)
    params = SamplingConfig(temperature=0.0, max_new_tokens=10, seed=0)
    recs = list(generate(model, tok, "abcd", params))
    keep = slide_keep(8)  # 6
    # prefill 4, then one token per step until 8 are cached; the 9th token forces a slide
    assert model.fed[0] == tok.encode("abcd") and len(model.fed[5]) == keep
    noted = [r for r in recs if r.note]
    assert noted and noted[0].index == 5 and noted[0].note == f"context full: window slid to the last {keep} tokens"

    model = ScriptedModel([a] * 5, tok.vocab_size, block_size=8)
    recs = list(generate(model, tok, "abcdefgh" * 2, SamplingConfig(temperature=0.0, max_new_tokens=2, seed=0)))
    assert model.fed[0] == tok.encode("abcdefgh" * 2)[-keep:]
    assert "prompt cropped" in recs[0].note and recs[1].note == ""


# --------------------------------------------------------------------------------------------------
# Scoring


def test_score_bits_per_byte_by_hand_on_a_uniform_model():
    tok = CharTok()
    model = micro_gpt(tok.vocab_size)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # every logit 0: a uniform distribution over the vocabulary
    res = score_text(model, tok, "abca")
    bits = math.log2(tok.vocab_size)
    assert res.tokens == 4 and res.bytes == 4
    assert math.isclose(res.bits_per_byte, bits, rel_tol=1e-6)
    assert all(math.isclose(r.surprisal_bits, bits, rel_tol=1e-6) for r in res.records)
    assert all(math.isclose(r.entropy_bits, bits, rel_tol=1e-5) for r in res.records)


def test_score_matches_the_model_loss_and_decodes_split_characters():
    tok = ByteTok()
    model = micro_gpt(tok.vocab_size, block_size=32, scale=3.0)
    text = "hello \U0001f600 soft"
    res = score_text(model, tok, text)
    ids = tok.encode(text)
    x = torch.tensor([[tok.eot_id] + ids[:-1]])
    with torch.no_grad():
        loss = model(x, torch.tensor([ids])).loss
    assert res.tokens == len(ids)
    assert res.bytes == len(text.encode())
    assert math.isclose(res.bits_per_byte, float(loss) * len(ids) / math.log(2) / res.bytes, rel_tol=1e-4)
    assert collect_text(res.records) == text
    assert [r.text for r in res.records if r.hex in ("f0 9f", "98 80")] == ["", "\U0001f600"]


def test_score_slides_over_long_texts_in_windows():
    tok = CharTok()
    model = micro_gpt(tok.vocab_size, block_size=8, scale=3.0)
    text = "abcdefgh abcdefgh abc"
    res = score_text(model, tok, text)
    assert res.tokens == len(text) and [r.index for r in res.records] == list(range(len(text)))
    assert res.records[8].note.startswith("window slid")
    # token 10 was scored in the window seq[4:12] (stride 4): check it against that forward pass
    seq = [tok.eot_id] + tok.encode(text)
    with torch.no_grad():
        logits = model(torch.tensor([seq[4:12]])).logits[0]
    expected = torch.log_softmax(logits[10 - 4], -1)[seq[11]]
    assert math.isclose(res.records[10].logprob, float(expected), rel_tol=1e-4)
    with pytest.raises(TinyGPTError):
        score_text(model, tok, "")
    with pytest.raises(TinyGPTError, match="The text contains 'z'"):
        score_text(model, tok, "abz")
