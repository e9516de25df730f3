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


@pytest.mark.skipif(not optim.muon_available(), reason="this PyTorch has no torch.optim.Muon")
@pytest.mark.parametrize("adjust", ["original", "match_rms_adamw"])
def test_float32_muon_is_pytorchs_update_with_the_iteration_in_float32(monkeypatch, adjust):
    """Where bf16 is slow on a CPU the trainer orthogonalises in float32 (optim.Float32Muon). With
    PyTorch's own iteration swapped for the float32 one, PyTorch's Muon and it move the weights
    identically (momentum, Nesterov, weight decay, the rate's scale), and they keep the same state."""
    import torch.optim._muon as torch_muon

    def in_float32(grad, coefficients, steps, eps):
        return optim.orthogonalise(grad, coefficients, steps, eps, torch.float32)

    torch.manual_seed(1)
    x = torch.randint(0, 64, (4, 16))
    models, opts = [], []
    for kind in (torch.optim.Muon, optim.Float32Muon):
        model = _model()
        hidden = model.hidden_matrices()
        models.append(model)
        opts.append(kind(hidden, lr=0.05, weight_decay=0.5, momentum=0.9, nesterov=True, adjust_lr_fn=adjust))
    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", in_float32)
    for _ in range(3):
        for model, opt in zip(models, opts, strict=True):
            model(x, x).loss.backward()
            opt.step()
            opt.zero_grad()
    for a, b in zip(models[0].hidden_matrices(), models[1].hidden_matrices(), strict=True):
        assert torch.equal(a, b)
    bf16_state, fp32_state = opts[0].state_dict(), opts[1].state_dict()
    assert [sorted(st) for st in bf16_state["state"].values()] == [sorted(st) for st in fp32_state["state"].values()]
    opts[0].load_state_dict(fp32_state)  # each loads the other's checkpoint


def test_the_trainer_gets_float32_muon_where_asked_and_the_iteration_orthogonalises():
    tc = TrainConfig(optimizer="muon")
    assert type(make_optimizer(_model(), tc)[0].muon) is torch.optim.Muon
    assert isinstance(make_optimizer(_model(), tc, torch.float32)[0].muon, optim.Float32Muon)
    g = torch.randn(48, 32, generator=torch.Generator().manual_seed(3))
    s = torch.linalg.svdvals(optim.orthogonalise(g, (3.4445, -4.7750, 2.0315), 5, 1e-7, torch.float32))
    assert 0.4 < s.min() and s.max() < 1.6  # singular values pushed towards one, as Muon's are


def test_the_iteration_is_float32_on_a_cpu_only_where_the_run_does_not_train_in_bf16():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert optim.ns_dtype_for(cpu, torch.bfloat16) == torch.bfloat16
    assert optim.ns_dtype_for(cpu, torch.float32) == torch.float32
    assert optim.ns_dtype_for(cuda, torch.float32) == optim.ns_dtype_for(cuda, torch.float16) == torch.bfloat16


def test_without_muon_in_torch_the_run_says_so_and_uses_adamw(monkeypatch):
    monkeypatch.setattr(optim, "muon_available", lambda: False)
    opt, note = make_optimizer(_model(), TrainConfig(optimizer="muon"))
    assert isinstance(opt, torch.optim.AdamW)
    assert note and "Muon" in note and "AdamW" in note


def test_schedule_factor_is_the_rate_over_the_peak():
    tc = TrainConfig(lr=2e-3, min_lr=2e-4, warmup_steps=5, max_steps=50, schedule="wsd")
    for step in (0, 3, 10, 40, 49, 60):
        assert lr_factor(tc, step) * tc.lr == pytest.approx(learning_rate(tc, step))
