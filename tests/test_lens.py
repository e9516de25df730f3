"""The logit lens, the sampler's cuts, and the contexts they recompute: checked against the model's
own forward pass and against the records the sampler and the scorer wrote."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from tinygpt_tui.config import ModelConfig, SamplingConfig, TinyGPTError
from tinygpt_tui.cuts import sampler_cuts, sampler_stages
from tinygpt_tui.generate import (
    encode_prompt,
    filtered_distribution,
    generate,
    next_token_logits,
    sampler_context,
)
from tinygpt_tui.lens import LensLayer, LogitLens, logit_lens, residual_stream
from tinygpt_tui.model import GPT
from tinygpt_tui.scoring import score_context, score_text
from tinygpt_tui.tokenizer import CharTokenizer

torch.set_num_threads(1)

TEXT = "Once upon a time there was a little fox. The fox liked to run in the green woods. The end."
TOK = CharTokenizer(sorted(set(TEXT)))


def classic(block_size: int = 32) -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(n_layer=3, n_head=2, n_embd=32, block_size=block_size, vocab_size=TOK.vocab_size)).eval()


def modern(block_size: int = 32, softcap: float = 3.0) -> GPT:
    """The modern recipe, with a cap small enough (and a head large enough) that the cap matters."""
    torch.manual_seed(1)
    cfg = ModelConfig(n_layer=3, n_head=2, n_embd=32, block_size=block_size, vocab_size=TOK.vocab_size,
                      tie_weights=False, position="rotary", norm="rmsnorm", qk_norm=True, activation="relu2",
                      logit_softcap=softcap)
    model = GPT(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(50.0)  # raw logits well past the cap
    return model.eval()


ARCHS = [pytest.param(classic, id="classic"), pytest.param(modern, id="modern")]


def own_probs(model: GPT, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)


# -- the logit lens ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", ARCHS)
def test_the_last_layer_of_the_lens_is_the_models_own_distribution(make):
    model = make()
    ids = TOK.encode("Once upon a ti")
    probs = own_probs(model, ids)
    chosen = int(torch.argsort(probs, descending=True)[2])  # a token below the top: rank 3
    lens = logit_lens(model, TOK, ids, chosen, top=4)
    assert [layer.layer for layer in lens.layers] == list(range(model.config.n_layer + 1))
    last = lens.layers[-1]
    assert last.prob == pytest.approx(float(probs[chosen]), rel=1e-5)
    assert last.rank == 3 and lens.settled is None  # the top token at the last layer is not the chosen one
    assert [a.id for a in last.top] == torch.topk(probs, 4).indices.tolist()
    assert [a.prob for a in last.top] == pytest.approx(torch.topk(probs, 4).values.tolist(), rel=1e-5)
    # the whole distribution, not just what the lens summarises: stream → final norm → head
    with torch.no_grad():
        stream = residual_stream(model, ids)
        whole = torch.softmax(model.head(model.transformer.ln_f(stream[-1])).float(), dim=-1)
        uncapped = float(model.lm_head(model.transformer.ln_f(stream[-1])).abs().max())
    torch.testing.assert_close(whole, probs, rtol=1e-5, atol=1e-7)
    if model.config.logit_softcap:
        assert uncapped > model.config.logit_softcap  # so a lens without the cap would differ


@pytest.mark.parametrize("make", ARCHS)
def test_each_layer_reads_the_stream_a_shallower_model_would_output(make):
    """Layer l of the lens is what the same model cut after its l-th block predicts: the stream is
    read at the right place, through the same final norm, head and soft-cap."""
    model = make()
    ids = TOK.encode("The fox liked")
    chosen = TOK.encode("t")[0]
    lens = logit_lens(model, TOK, ids, chosen)
    for depth in range(model.config.n_layer + 1):
        shallow = copy.deepcopy(model)
        shallow.transformer.h = nn.ModuleList(list(shallow.transformer.h)[:depth])
        probs = own_probs(shallow, ids)
        layer = lens.layers[depth]
        assert layer.prob == pytest.approx(float(probs[chosen]), rel=1e-4, abs=1e-7)
        assert layer.rank == int((probs > probs[chosen]).sum()) + 1
        assert layer.top[0].id == int(probs.argmax())
        entropy = float(-(probs * probs.clamp_min(1e-30).log()).sum() / math.log(2))
        assert layer.entropy_bits == pytest.approx(entropy, rel=1e-4, abs=1e-5)


def test_settled_is_the_first_layer_from_which_the_token_stays_on_top():
    def lens(ranks):
        return LogitLens(token=7, layers=[LensLayer(i, [], 0.5, r, 1.0) for i, r in enumerate(ranks)])

    assert lens([3, 1, 2, 1, 1]).settled == 3  # on top at layer 1, lost it, back for good at 3
    assert lens([1, 1, 1]).settled == 0
    assert lens([1, 1, 2]).settled is None


def test_a_context_longer_than_the_window_keeps_its_last_block_size_ids():
    model = classic(block_size=8)
    ids = TOK.encode("Once upon a time there")
    chosen = TOK.encode(" ")[0]
    long = logit_lens(model, TOK, ids, chosen)
    short = logit_lens(model, TOK, ids[-8:], chosen)
    assert (long.cropped, long.context) == (len(ids) - 8, 8)
    assert [layer.prob for layer in long.layers] == pytest.approx([layer.prob for layer in short.layers])


def test_a_model_without_the_blocks_is_told_not_crashed():
    class Foreign(nn.Module):  # what hf.HFModel offers: a forward and a config, no GPT blocks
        config = ModelConfig(n_layer=1, n_head=1, n_embd=4, block_size=8, vocab_size=TOK.vocab_size)

    with pytest.raises(TinyGPTError) as err:
        logit_lens(Foreign(), TOK, [1, 2], 3)
    assert "Hugging Face" in err.value.message and "cuts" in err.value.hint
    with pytest.raises(TinyGPTError, match="at least one token"):
        logit_lens(classic(), TOK, [], 3)


# -- the contexts the views recompute ---------------------------------------------------------------
@pytest.mark.parametrize("make", ARCHS)
def test_sampler_context_is_what_the_sampler_saw_across_slides(make):
    """A prompt longer than the context and a generation that slides its window several times: one
    forward pass over sampler_context gives every record's probability, and the cuts' last stage is
    what the sampler drew from (prob_sampled, cut_mass)."""
    model = make(block_size=12)
    prompt = "Once upon a time there was"  # cropped: longer than the context
    params = SamplingConfig(temperature=0.9, top_k=6, top_p=0.8, max_new_tokens=30, seed=3)
    records = list(generate(model, TOK, prompt, params, stop_at_eot=False))
    assert len(records) == 30 and sum("slid" in r.note for r in records) >= 3
    prompt_ids, generated = encode_prompt(TOK, prompt), [r.id for r in records]
    for r in records:
        context = sampler_context(prompt_ids, generated, r.index, 12)
        assert len(context) <= 12
        probs = torch.softmax(next_token_logits(model, context), dim=-1)
        assert float(probs[r.id]) == pytest.approx(r.prob, rel=1e-4, abs=1e-6)
        cuts = sampler_cuts(model, TOK, context, r.id, params)
        raw, _, _, final = cuts.stages
        assert raw.rank == r.rank and raw.prob == pytest.approx(r.prob, rel=1e-4, abs=1e-6)
        assert final.prob == pytest.approx(r.prob_sampled, rel=1e-4, abs=1e-6)
        assert sum(s.removed for s in cuts.stages) == pytest.approx(r.cut_mass, abs=1e-5)
        assert final.rank >= 1  # the drawn token survived every cut


def test_score_context_is_what_the_scorer_saw_in_each_window():
    model = classic(block_size=10)
    result = score_text(model, TOK, TEXT[:40])
    ids = [r.id for r in result.records]
    seq = [TOK.eot_id] + ids
    assert any(r.note for r in result.records)  # the text outgrew the context: windows slid
    for r in result.records:
        context = score_context(seq, r.index, 10)
        assert len(context) <= 10 and context[-1] == seq[r.index]
        probs = torch.softmax(next_token_logits(model, context), dim=-1)
        assert float(probs[r.id]) == pytest.approx(r.prob, rel=1e-4, abs=1e-6)
    with pytest.raises(TinyGPTError, match="no token 41"):
        score_context(seq, 40, 10)


# -- the sampler's cuts -----------------------------------------------------------------------------
SETTINGS = [
    pytest.param(SamplingConfig(temperature=1.0, top_k=0, top_p=1.0), id="nothing"),
    pytest.param(SamplingConfig(temperature=0.7, top_k=5, top_p=1.0), id="top_k"),
    pytest.param(SamplingConfig(temperature=1.3, top_k=0, top_p=0.6), id="top_p"),
    pytest.param(SamplingConfig(temperature=0.8, top_k=8, top_p=0.7), id="both"),
    pytest.param(SamplingConfig(temperature=0.0), id="greedy"),
]


@pytest.mark.parametrize("params", SETTINGS)
def test_each_stage_is_a_distribution_and_the_removed_masses_add_up(params):
    logits = next_token_logits(classic(), TOK.encode("Once upon"))
    stages = sampler_stages(logits, params)
    assert [s.name for s in stages] == ["raw", "temperature", "top-k", "top-p"]
    for s in stages:
        assert float(s.probs.sum()) == pytest.approx(1.0, abs=1e-5)
        assert s.ids.numel() == s.probs.numel() and len(set(s.ids.tolist())) == s.ids.numel()
    # on the tempered scale: what the last stage keeps plus what each stage removed is all of it
    final = stages[-1]
    scale = torch.softmax(logits, -1) if params.temperature <= 0 else torch.softmax(logits / params.temperature, -1)
    kept = float(scale[final.ids].sum())
    assert kept + sum(s.removed for s in stages) == pytest.approx(1.0, abs=1e-5)
    # each filter only removes: a stage's ids are a subset of the one before
    for before, after in zip(stages[1:], stages[2:], strict=False):
        assert set(after.ids.tolist()) <= set(before.ids.tolist())
    # the last stage is what the sampler draws from
    ids, probs, cut = filtered_distribution(logits, params.temperature, params.top_k, params.top_p)
    assert final.ids.tolist() == ids.tolist()
    torch.testing.assert_close(final.probs, probs)
    assert sum(s.removed for s in stages) == pytest.approx(cut, abs=1e-6)
    assert stages[0].probs.numel() == TOK.vocab_size and stages[0].removed == 0.0


def test_cuts_say_which_stages_apply_and_count_what_is_left():
    model = classic()
    context = TOK.encode("Once upon")
    probs = torch.softmax(next_token_logits(model, context), -1)
    chosen = int(torch.argsort(probs, descending=True)[3])  # the 4th most likely: top_k=3 removes it
    cuts = sampler_cuts(model, TOK, context, chosen, SamplingConfig(temperature=0.5, top_k=3, top_p=1.0), top=3)
    raw, temp, topk, topp = cuts.stages
    assert [s.applied for s in cuts.stages] == [True, True, True, False]
    assert (raw.tokens, topk.tokens, topp.tokens) == (TOK.vocab_size, 3, 3)
    assert raw.rank == temp.rank == 4 and topk.rank == 0 and topk.prob == 0.0
    assert temp.prob > 0 and raw.removed == temp.removed == 0.0 and topk.removed > 0
    assert (topk.setting, topp.setting) == ("top_k=3", "top_p=1")
    assert [a.id for a in raw.top] == torch.topk(probs, 3).indices.tolist()
    assert cuts.kept == pytest.approx(1 - topk.removed)
