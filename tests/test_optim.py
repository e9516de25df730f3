"""optim.py: the learning-rate schedules and the Muon + AdamW optimizer."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

from tinygpt_tui import optim
from tinygpt_tui.config import ModelConfig, TrainConfig
from tinygpt_tui.model import GPT
from tinygpt_tui.optim import PEAK, learning_rate, lr_factor, make_optimizer, set_lr_factor

MODERN = dict(position="rotary", norm="rmsnorm", qk_norm=True, activation="relu2", zero_init=True,
              logit_softcap=15.0, tie_weights=False)


def test_step_schedule_warms_up_peaks_decays_and_floors():
    tc = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110)
    assert learning_rate(tc, 0) == pytest.approx(1e-4)  # 1/10 of the peak
    assert learning_rate(tc, 4) == pytest.approx(5e-4)
    assert learning_rate(tc, 9) == pytest.approx(1e-3)  # end of warmup: the peak
    assert learning_rate(tc, 10) == pytest.approx(1e-3)
    assert learning_rate(tc, 60) == pytest.approx(5.5e-4)  # halfway down the cosine
    assert learning_rate(tc, 110) == pytest.approx(1e-4)
    assert learning_rate(tc, 500) == pytest.approx(1e-4)  # past the end: the floor
    lrs = [learning_rate(tc, s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_time_schedule_follows_the_clock_not_the_step():
    tc = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100, max_time=100.0)
    # warmup is the share 10/100 of the budget, i.e. the first 10 seconds
    assert learning_rate(tc, 0, 0.0) == pytest.approx(1e-5)  # floor of 1% so step 0 learns
    assert learning_rate(tc, 3, 5.0) == pytest.approx(5e-4)
    assert learning_rate(tc, 999, 5.0) == pytest.approx(5e-4)  # the step number does not matter
    assert learning_rate(tc, 7, 10.0) == pytest.approx(1e-3)
    assert learning_rate(tc, 7, 55.0) == pytest.approx(5.5e-4)
    assert learning_rate(tc, 7, 100.0) == pytest.approx(1e-4)
    assert learning_rate(tc, 7, 150.0) == pytest.approx(1e-4)



def test_wsd_holds_the_peak_then_decays_linearly_over_the_cooldown():
    tc = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110, schedule="wsd", cooldown=0.5)
    assert learning_rate(tc, 0) == pytest.approx(1e-4)
    assert all(learning_rate(tc, s) == pytest.approx(1e-3) for s in range(9, 56))  # stable to 50%
    assert learning_rate(tc, 82) == pytest.approx(1e-4 + 0.9e-3 * (1 - 27 / 55))  # linear down
    assert learning_rate(tc, 110) == pytest.approx(1e-4)
    lrs = [learning_rate(tc, s) for s in range(55, 111)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_wsd_on_a_time_budget_does_not_decay_early_on_a_slow_start():
    """A machine that is slow for the first half only shortens the stable phase: the rate at 60% of
    the budget is the peak whatever the step count, and it decays only in the final share."""
    tc = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=1000, max_time=100.0,
                     schedule="wsd", cooldown=0.3)
    assert learning_rate(tc, 20, 60.0) == pytest.approx(1e-3)
    assert learning_rate(tc, 900, 60.0) == pytest.approx(1e-3)
    assert learning_rate(tc, 20, 85.0) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    # the cosine, by contrast, has already come down by then
    assert learning_rate(TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=1000, max_time=100.0),
                         20, 60.0) < 0.5e-3


def _model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=64, **{**MODERN, **kw}))


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    model = _model()
    opt, note = make_optimizer(model, TrainConfig(optimizer="muon", lr=3e-3, muon_lr=0.05))
    assert note is None
    assert isinstance(opt.muon, torch.optim.Muon) and isinstance(opt.adamw, torch.optim.AdamW)
    muon_ids = {id(p) for g in opt.muon.param_groups for p in g["params"]}
    assert muon_ids == {id(p) for p in model.hidden_matrices()}
    assert {g["lr"] for g in opt.muon.param_groups} == {0.05}
    assert {g["lr"] for g in opt.adamw.param_groups} == {3e-3}
    set_lr_factor(opt, 0.5)  # one schedule moves both, each from its own peak
    assert {g["lr"] for g in opt.muon.param_groups} == {0.025}
    assert {g["lr"] for g in opt.adamw.param_groups} == {1.5e-3}
    assert all(g[PEAK] in (0.05, 3e-3) for g in opt.param_groups)


def test_muon_adamw_state_round_trips_exactly():
    tc = TrainConfig(optimizer="muon")
    model = _model()
    opt, _ = make_optimizer(model, tc)
    x = torch.randint(0, 64, (4, 16))
    for _ in range(3):
        model(x, x).loss.backward()
        opt.step()
        opt.zero_grad()
    state = copy.deepcopy(opt.state_dict())
    # one index space: Muon's parameters first, AdamW's after, as one optimizer would number them
    assert sorted(state["state"]) == list(range(len(list(model.parameters()))))
    twin = _model()
    twin.load_state_dict(model.state_dict())
    twin_opt, _ = make_optimizer(twin, tc)
    twin_opt.load_state_dict(state)
    for m, o in ((model, opt), (twin, twin_opt)):
        m(x, x).loss.backward()
        o.step()
        o.zero_grad()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_muon_in_torch_the_run_says_so_and_uses_adamw(monkeypatch):
    monkeypatch.setattr(optim, "muon_available", lambda: False)
    opt, note = make_optimizer(_model(), TrainConfig(optimizer="muon"))
    assert isinstance(opt, torch.optim.AdamW)
    assert note and "Muon" in note and "AdamW" in note


def test_schedule_factor_is_the_rate_over_the_peak():
    tc = TrainConfig(lr=2e-3, min_lr=2e-4, warmup_steps=5, max_steps=50, schedule="wsd")
    for step in (0, 3, 10, 40, 49, 60):
        assert lr_factor(tc, step) * tc.lr == pytest.approx(learning_rate(tc, step))
