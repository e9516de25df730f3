"""evaluate.py: the one window scheme, bits per byte on a hand-checked case, the trainer's loss estimate,
and scoring (scoring.score_text) seeing the same windows as evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tinygpt_tui import evaluate
from tinygpt_tui.config import EOT, ModelConfig, TokenizerConfig
from tinygpt_tui.model import GPT


def test_score_windows_score_every_target_once_with_context():
    for n in (1, 2, 5, 17, 33, 100):
        T = 16
        scored = []
        for start, end, first in evaluate.score_windows(n, T):
            assert 0 <= start < end <= n - 1 and end - start <= T
            targets = list(range(start + 1, end + 1))[first:]
            if start > 0:
                assert targets[0] - start >= T // 2  # at least half a context before each new target
            scored += targets
        assert scored == list(range(1, n))


def test_bits_per_byte_on_a_hand_checked_case(home):
    """A model that predicts the uniform distribution over V tokens costs log2(V) bits per token;
    here two documents make 5 targets worth 6 bytes, so bpb = 5 log2(V) / 6."""
    from tinygpt_tui.tokenizer_training import train_tokenizer

    corpus = home / "c.txt"
    corpus.write_text(f"ab\n{EOT}\né\n{EOT}\n", encoding="utf-8")
    tok = train_tokenizer(TokenizerConfig(kind="char"), corpus)
    V = tok.vocab_size
    model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=V))
    torch.nn.init.zeros_(model.lm_head.weight)  # logits all zero: uniform
    # "ab" -> targets a, b, EOT (3 tokens, 3 bytes); "é" -> targets é, EOT (2 tokens, 2 + 1 bytes)
    result = evaluate.evaluate_documents(model, tok, ["ab", "é"])
    assert result["tokens"] == 5 and result["bytes"] == 6
    assert result["loss"] == pytest.approx(math.log(V), rel=1e-6)
    assert result["bpb"] == pytest.approx(5 * math.log2(V) / 6, rel=1e-6)
    # a long document is scored in windows, each token once
    long = evaluate.evaluate_documents(model, tok, ["ab" * 20])
    assert long["tokens"] == 41 and long["bytes"] == 41


def test_bits_per_byte_converts_nats_per_byte():
    assert evaluate.bits_per_byte(math.log(2) * 8, 8) == pytest.approx(1.0)
    assert evaluate.bits_per_byte(1.0, 0) == pytest.approx(1 / math.log(2))  # no division by zero


def _char_model(home, text: str, block_size: int):
    from tinygpt_tui.tokenizer_training import train_tokenizer

    corpus = home / "c.txt"
    corpus.write_text(f"{text}\n{EOT}\n", encoding="utf-8")
    tok = train_tokenizer(TokenizerConfig(kind="char"), corpus)
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=block_size, vocab_size=tok.vocab_size))
    return model.eval(), tok


def test_score_text_and_evaluation_use_the_same_windows(home):
    """Scoring a long text token by token sums to the same loss as evaluating it (without the final
    end-of-text target evaluation adds): both slide the same windows over the same ids."""
    from tinygpt_tui.scoring import score_text

    text = "abcab" * 9  # 45 tokens: several windows of an 8-token context
    model, tok = _char_model(home, text, block_size=8)
    scored = score_text(model, tok, text, alternatives=0)
    assert len(scored.records) == 45
    slid = [r.note for r in scored.records if r.note]
    re_read = [int(n.split()[2]) for n in slid]  # "window slid: N tokens of context re-read"
    assert len(slid) == 10 and all(n >= 4 for n in re_read)  # at least half a context, as score_windows
    ids = [tok.eot_id] + tok.encode(text)
    expected = 0.0
    with torch.no_grad():
        for start, end, first in evaluate.score_windows(len(ids), 8):
            logits = model(torch.tensor([ids[start:end]])).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            for j in range(first, end - start):
                expected -= float(logp[j, ids[start + j + 1]])
    nats = sum(r.surprisal_bits for r in scored.records) * math.log(2)
    assert nats == pytest.approx(expected, rel=1e-5)


class _FixedSampler:
    """Batches of a fixed pattern: the estimate must be the model's loss on exactly these."""

    def __init__(self, vocab: int):
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randint(0, vocab, (2, 8), generator=gen)
        self.y = torch.randint(0, vocab, (2, 8), generator=gen)

    def get(self, split: str, index: int):
        return self.x, self.y


def test_estimate_loss_is_the_mean_loss_of_the_fixed_batches():
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=20))
    sampler = _FixedSampler(20)
    byte_lengths = torch.as_tensor(np.full(20, 2), dtype=torch.long)  # every token stands for 2 bytes
    out = evaluate.estimate_loss(model, sampler, 3, byte_lengths, evaluate.autocast_for(torch.device("cpu"),
                                                                                          torch.float32))
    with torch.no_grad():
        loss = float(model(sampler.x, sampler.y).loss)
    assert out["train_loss"] == pytest.approx(loss, rel=1e-5) and out["val_loss"] == pytest.approx(loss, rel=1e-5)
    assert out["val_bpb"] == pytest.approx(loss / math.log(2) / 2, rel=1e-5)
