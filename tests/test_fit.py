"""Fitting a time-budgeted CPU run to the machine: presets.machine_fit and preflight.fit_to_machine."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tinygpt_tui import preflight, runs, train
from tinygpt_tui.presets import (
    CPU_10M,
    CPU_SLOW,
    DROPOUT_EPOCHS,
    MACHINE_FITS,
    TINY,
    TINY_SLOW,
    dropout_share,
    machine_fit,
    preset_config,
)
from tinygpt_tui.shards import open_shards

CPU = torch.device("cpu")
MODELS = Path("models")


def machine(monkeypatch, flops: float, dtype: torch.dtype = torch.float32, step_seconds: float = 0.0) -> list:
    """Pretend this machine's matmuls run at ``flops`` in ``dtype``, the dtype it trains in, and that a
    training step takes ``step_seconds`` (0: no slower than the compute says). Returns the list of the
    configurations whose step was timed."""
    timed: list = []
    monkeypatch.setattr(preflight, "resolve_dtype", lambda name, device, table=None: dtype)
    monkeypatch.setattr(preflight, "measure_peak_flops", lambda device, d, table=None: flops)
    monkeypatch.setattr(preflight, "measure_step_seconds",
                        lambda cfg, device, d: timed.append(cfg) or step_seconds)
    return timed


def new_run(name: str, preset: str = "cpu-10m", **sections) -> Path:
    runs.create_run(MODELS, preset_config(preset, name, sections))
    return MODELS / name


def test_each_rung_is_chosen_at_its_own_compute_with_its_own_plan():
    for preset, rungs in MACHINE_FITS.items():
        assert preset_config(preset).train.fit_to_machine
        for compute, settings in rungs:
            check_rung(machine_fit(compute, preset), settings)


def check_rung(fitted, settings):
    assert fitted["model"] == settings["model"]
    for key in ("batch_size", "max_steps", "warmup_steps", "eval_interval"):
        assert fitted["train"][key] == settings["train"][key]


def test_the_boundaries_are_geometric_means_and_the_plan_scales_with_compute():
    (c0, _), (c1, _) = MACHINE_FITS["cpu-10m"]
    low = math.sqrt(c0 * c1)
    assert machine_fit(low * 0.99)["model"] == CPU_SLOW["model"]
    assert machine_fit(low * 1.01)["model"] == CPU_10M["model"]
    half = machine_fit(c1 / 2)["train"]
    assert half["max_steps"] == round(CPU_10M["train"]["max_steps"] / 2)
    assert machine_fit(1.0)["train"]["max_steps"] == 10  # a floor, never zero steps planned
    assert machine_fit(1e30)["model"] == CPU_10M["model"]  # an hour of a fast machine: the same shape
    hour = machine_fit(6 * c1, "cpu-1h")["train"]
    assert hour["max_steps"] == 6 * CPU_10M["train"]["max_steps"] == preset_config("cpu-1h").train.max_steps
    (t0, _), (t1, _) = MACHINE_FITS["tiny"]
    assert machine_fit(math.sqrt(t0 * t1) * 0.99, "tiny")["model"] == TINY_SLOW["model"]
    assert machine_fit(math.sqrt(t0 * t1) * 1.01, "tiny")["model"] == TINY["model"]


def test_a_slow_machine_gets_the_small_shape_written_to_config_json(home, monkeypatch):
    machine(monkeypatch, 73e9)  # 600 s x 73 GFLOP/s: 44 TFLOP
    run = new_run("slow")
    cfg, note = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert cfg.model.n_embd == CPU_SLOW["model"]["n_embd"] and cfg.model.n_layer == CPU_SLOW["model"]["n_layer"]
    assert cfg.model.dropout == CPU_SLOW["model"]["dropout"]
    assert cfg.model.value_residual == CPU_SLOW["model"]["value_residual"]  # the pair of seeds on AVX2
    assert cfg.train.max_steps == CPU_SLOW["train"]["max_steps"]
    assert cfg.train.fit_to_machine is False  # fitted once: a resumed run keeps its shape
    assert runs.load_run_config(run) == cfg
    assert "73 GFLOP/s" in note and "44 TFLOP" in note and "float32" in note
    # what the preset chose besides the shape stays: the recipe, the budget, the vocabulary
    assert cfg.train.optimizer == "muon" and cfg.train.max_time == 600.0 and cfg.tokenizer.vocab_size == 4096
    # fitted already: nothing more to do
    again, note = preflight.fit_to_machine(run, cfg, CPU, MODELS)
    assert note is None and again == cfg


def test_the_machine_the_preset_was_measured_on_keeps_it(home, monkeypatch):
    machine(monkeypatch, 442e9, torch.bfloat16)
    run = new_run("fast")
    before = runs.load_run_config(run)
    cfg, note = preflight.fit_to_machine(run, before, CPU, MODELS)
    assert cfg.model == before.model and cfg.train.batch_size == before.train.batch_size
    assert cfg.model.value_residual  # the sweep's value-residual rows
    assert abs(cfg.train.max_steps - before.train.max_steps) <= 1
    assert "bfloat16" in note


@pytest.mark.parametrize("preset", ["tiny", "cpu-10m"])
def test_a_machine_whose_steps_are_slower_than_its_peak_says_gets_the_smaller_shape(home, monkeypatch, preset):
    """A fast matmul peak but slow steps: the AVX2 machine whose quick start, fitted by its peak to
    4 x 192, did 51 of 435 planned steps. The shape the peak chose is timed and gives way."""
    big, small = (TINY, TINY_SLOW) if preset == "tiny" else (CPU_10M, CPU_SLOW)
    budget = preset_config(preset).train.max_time
    (c_small, _), (c_big, _) = MACHINE_FITS[preset]
    rate = c_big / budget  # the compute the big shape was fitted at ...
    timed = machine(monkeypatch, rate, step_seconds=budget / (big["train"]["max_steps"] / 8))  # ... an 8th of its steps
    run = new_run("slowsteps", preset)
    cfg, note = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert [(c.model.n_embd, c.train.batch_size) for c in timed] == [(big["model"]["n_embd"], big["train"]["batch_size"])]
    assert cfg.model.n_embd == small["model"]["n_embd"] and cfg.train.batch_size == small["train"]["batch_size"]
    # the small shape's plan follows the compute those steps amount to, an eighth of the peak's
    assert cfg.train.max_steps == machine_fit(c_big / 8, preset)["train"]["max_steps"]
    assert f"would do about {big['train']['max_steps'] / 8:,.0f} of its {big['train']['max_steps']:,} steps" in note
    assert runs.load_run_config(run) == cfg


def test_steps_a_little_slower_than_the_peak_keep_the_shape_and_the_plan_follows_them(home, monkeypatch):
    c_big = MACHINE_FITS["cpu-10m"][1][0]
    planned = CPU_10M["train"]["max_steps"]
    step = 600 / (planned * 0.7)
    timed = machine(monkeypatch, c_big / 600, step_seconds=step)
    run = new_run("alittle")
    before = runs.load_run_config(run)
    cfg, note = preflight.fit_to_machine(run, before, CPU, MODELS)
    assert len(timed) == 1 and cfg.model == before.model
    assert cfg.train.max_steps == round(planned * 0.7)  # the steps the budget holds, not the peak's
    assert f"a step of 4 layers × {CPU_10M['model']['n_embd']} timed at {step:.2f} s: about {planned * 0.7:,.0f} " \
        f"of the {planned:,} steps its compute plans)" in note
    assert "would do" not in note


def test_a_peak_far_above_the_step_rate_keeps_a_plan_the_budget_can_hold(home, monkeypatch):
    """A CPU with AMX measured bf16 matmuls at 2.7 TFLOP/s, six times the machine the top rung was
    fitted on, while its steps ran about as fast as that machine's: planned from the peak, 5,879 steps
    and an evaluation every 1,240, more than the run would do."""
    c_big = MACHINE_FITS["cpu-10m"][1][0]
    planned = CPU_10M["train"]
    machine(monkeypatch, 6 * c_big / 600, torch.bfloat16, step_seconds=600 / planned["max_steps"])
    run = new_run("amx")
    cfg, note = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert cfg.model.n_embd == CPU_10M["model"]["n_embd"]
    for key in ("max_steps", "warmup_steps", "eval_interval"):
        assert abs(getattr(cfg.train, key) - planned[key]) <= 1, key
    assert "would do" not in note and "steps its compute plans" in note


def test_a_faster_step_than_the_plan_leaves_the_plan(home, monkeypatch):
    machine(monkeypatch, 442e9, torch.bfloat16, step_seconds=0.01)
    run = new_run("quick")
    cfg, note = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert cfg.train.max_steps == machine_fit(442e9 * 600)["train"]["max_steps"]
    assert "timed at 0.01 s)" in note


def test_the_smallest_shape_is_timed_and_a_shape_set_by_hand_is_not(home, monkeypatch):
    timed = machine(monkeypatch, 73e9, step_seconds=600 / 24)  # a tenth of the smallest shape's plan
    run = new_run("small")
    small, _ = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert [c.model.n_embd for c in timed] == [CPU_SLOW["model"]["n_embd"]]
    assert small.model.n_embd == CPU_SLOW["model"]["n_embd"] and small.train.max_steps == 24
    timed.clear()
    run = new_run("own", model={"n_embd": 96, "n_head": 3})
    preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    timed_big = machine(monkeypatch, 442e9, step_seconds=1e9)
    run = new_run("own-fast", model={"n_layer": 2})
    cfg, _ = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    # micro-batches set by hand make each step longer than the plan's: timing it would mislead
    run = new_run("accum", train={"grad_accum": 4})
    accum, _ = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert timed == [] and timed_big == [] and cfg.model.n_layer == 2
    assert accum.model.n_embd == CPU_10M["model"]["n_embd"] and accum.train.grad_accum == 4


def test_a_step_is_timed_on_a_real_model_without_touching_the_run_seed():
    cfg = preset_config("micro", "t")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    seconds = preflight.measure_step_seconds(cfg, CPU, torch.float32)
    assert 0 < seconds < 60 and torch.equal(torch.rand(3), expected)


def test_an_hour_on_the_slow_machine_gets_the_ten_minute_shape(home, monkeypatch):
    machine(monkeypatch, 73e9)
    run = new_run("hour", "cpu-1h")
    cfg, _ = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    assert cfg.model.n_embd == CPU_10M["model"]["n_embd"] and cfg.model.dropout == CPU_10M["model"]["dropout"]
    assert cfg.train.max_time == 3600.0


def test_what_the_user_set_stays(home, monkeypatch):
    machine(monkeypatch, 73e9)
    run = new_run("own", model={"n_embd": 96, "n_head": 3}, train={"eval_interval": 7})
    cfg, note = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS)
    # a shape set by hand is kept whole (not mixed with the fitted one) ...
    assert (cfg.model.n_embd, cfg.model.n_head, cfg.model.n_layer) == (96, 3, 4)
    assert cfg.model.dropout == CPU_10M["model"]["dropout"] and cfg.train.batch_size == 32
    # ... the plan is still fitted, and an evaluation interval set by hand is kept
    assert cfg.train.max_steps == CPU_SLOW["train"]["max_steps"] and cfg.train.eval_interval == 7
    assert "the shape you set" in note


def test_the_quick_start_fits_too(home, monkeypatch):
    from tinygpt_tui.forms import quick_start_config

    machine(monkeypatch, 73e9)  # 140 s: 10 TFLOP
    runs.create_run(MODELS, quick_start_config())
    cfg, note = preflight.fit_to_machine(MODELS / "quick", runs.load_run_config(MODELS / "quick"), CPU, MODELS)
    assert cfg.model.n_embd == TINY_SLOW["model"]["n_embd"] and cfg.train.max_steps == TINY_SLOW["train"]["max_steps"]
    assert cfg.data.source == "storybook" and cfg.tokenizer.vocab_size == 2048 and note


@pytest.mark.parametrize("why", ["off", "no budget", "trained", "gpu", "not a fitted preset"])
def test_nothing_is_fitted(home, monkeypatch, why):
    machine(monkeypatch, 73e9)
    train_kw = {"fit_to_machine": False} if why == "off" else {"max_time": None} if why == "no budget" else {}
    run = new_run("keep", "small" if why == "not a fitted preset" else "cpu-10m", train=train_kw)
    if why == "not a fitted preset":  # a time budget and the switch, but no shapes to fit to
        cfg = runs.load_run_config(run)
        cfg.train.max_time, cfg.train.fit_to_machine = 60.0, True
        runs.save_run_config(run, cfg)
    if why == "no budget":  # preset_config skips None overrides: take the budget off by hand
        cfg = runs.load_run_config(run)
        cfg.train.max_time = None
        runs.save_run_config(run, cfg)
    if why == "trained":
        (run / runs.WEIGHTS).write_bytes(b"weights")
    before = runs.load_run_config(run)
    cfg, note = preflight.fit_to_machine(run, before, torch.device("cuda") if why == "gpu" else CPU, MODELS)
    assert note is None and cfg == before and runs.load_run_config(run) == before


def test_training_fits_a_new_run_once_its_data_is_prepared(home, workspace, monkeypatch, write_stories):
    machine(monkeypatch, 1e9)  # 1 GFLOP/s for 3 s: the smallest shape, a plan of a few steps
    corpus = write_stories(7, 1500)
    new_run("e2e", "tiny", data={"source": str(corpus)}, tokenizer={"vocab_size": 300},
            train={"max_time": 3.0, "dtype": "float32", "eval_interval": 5})
    events: list[dict] = []
    done = train.train_run(workspace, "e2e", on_event=events.append)
    stages = [e for e in events if e["event"] == "stage"]
    assert [e["stage"] for e in stages[:3]] == ["corpus", "tokenizer", "shards"]
    fit = next(e["message"] for e in stages if "fitted to this machine" in e["message"])
    assert stages.index(next(e for e in stages if e["message"] == fit)) > 2
    # the plan's reading of its data is counted on the training shard it just made
    told = int(fit.split("reads its ")[1].split(" training tokens")[0].replace(",", ""))
    (made,) = workspace.data.rglob("train.bin")
    assert told == len(open_shards(made.parent).train) > 0
    cfg = runs.load_run_config(MODELS / "e2e")
    start = next(e for e in events if e["event"] == "start")
    assert start["max_steps"] == 10
    assert cfg.model.n_embd == TINY_SLOW["model"]["n_embd"]
    assert done["reason"] in ("time", "finished")


def test_dropout_pays_only_on_text_read_more_than_once():
    none, whole = DROPOUT_EPOCHS
    assert dropout_share(0.01) == dropout_share(none) == 0.0
    assert dropout_share(whole) == dropout_share(100.0) == 1.0
    between = [dropout_share(none + (whole - none) * i / 10) for i in range(11)]
    assert between == sorted(between) and 0.0 < between[5] < 1.0


def test_the_dropout_follows_how_often_the_plan_reads_the_data(home, monkeypatch):
    machine(monkeypatch, 442e9, torch.bfloat16)  # the machine cpu-10m was measured on
    plan = CPU_10M["train"]["max_steps"] * CPU_10M["train"]["batch_size"] * 256
    whole = CPU_10M["model"]["dropout"]
    for tokens, dropout in ((plan // 10, whole), (plan * 10, 0.0)):  # ten passes; a tenth of one
        run = new_run(f"read-{tokens}")
        cfg, note = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS, tokens)
        assert cfg.model.dropout == dropout and runs.load_run_config(run).model.dropout == dropout
        assert f"dropout {dropout:g} (the plan reads its {tokens:,} training tokens" in note
    # a dropout set by hand stays whatever the data; a shape set by hand still has its dropout fitted
    run = new_run("own-dropout", model={"dropout": 0.05})
    cfg, _ = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS, plan * 10)
    assert cfg.model.dropout == 0.05
    run = new_run("own-width", model={"n_embd": 96, "n_head": 3})
    cfg, _ = preflight.fit_to_machine(run, runs.load_run_config(run), CPU, MODELS, plan * 10)
    assert cfg.model.n_embd == 96 and cfg.model.dropout == 0.0
