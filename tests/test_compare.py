"""compare.py: runs' metrics read into comparable series."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinygpt_tui import runs
from tinygpt_tui.compare import compare_runs, run_series
from tinygpt_tui.config import TinyGPTError

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import make_run, metric_events  # noqa: E402


def test_a_run_becomes_its_table_row_and_validation_curve(home):
    make_run(home / "models", "a")
    s = run_series(home / "models", "a")
    evals = [e for e in metric_events(50) if e["event"] == "eval"]
    steps = {e["step"]: e for e in metric_events(50) if e["event"] == "step"}
    assert (s.name, s.preset, s.params, s.steps) == ("a", "micro", 27_000, 50)
    assert s.tokens == steps[50]["tokens"] and s.elapsed_s == steps[50]["elapsed_s"]
    assert s.best_val_bpb == min(e["val_bpb"] for e in evals)
    assert s.val == tuple((e["step"], float(steps[e["step"]]["tokens"]), e["val_bpb"]) for e in evals)
    assert json.loads(json.dumps(s.to_dict()))["val"][0] == {"step": 25, "tokens": 6400.0, "val_bpb": evals[0]["val_bpb"]}


def test_an_evaluation_between_step_readings_gets_the_tokens_seen_by_then(home):
    d = make_run(home / "models", "b")
    with open(d / runs.METRICS, "a", encoding="utf-8") as f:  # a resumed session evaluates at step 52
        f.write(json.dumps({"event": "step", "step": 54, "loss": 1.0, "lr": 1e-3, "tokens_per_s": 1.0, "mfu": None,
                            "elapsed_s": 11.0, "eta_s": None, "grad_norm": 1.0, "tokens": 256 * 54, "threads": 1}) + "\n")
        f.write(json.dumps({"event": "eval", "step": 52, "train_loss": 1.0, "val_loss": 1.0, "val_bpb": 0.5,
                            "best": True}) + "\n")
        f.write("not json\n")
    s = run_series(home / "models", "b")
    assert s.val[-1] == (52, 256 * 52.0, 0.5) and s.best_val_bpb == 0.5


def test_unknown_runs_are_one_sentence_with_a_hint(home):
    make_run(home / "models", "a")
    with pytest.raises(TinyGPTError, match="no run named 'nope'") as err:
        compare_runs(home / "models", ["a", "nope"])
    assert err.value.hint
    with pytest.raises(TinyGPTError, match="not a valid run name"):
        compare_runs(home / "models", ["../etc"])
    assert [s.name for s in compare_runs(home / "models", ["a", "a"])] == ["a"]


def test_a_growing_run_is_read_from_where_the_last_read_stopped(home):
    from tinygpt_tui.compare import SeriesReader

    d = make_run(home / "models", "g")
    reader = SeriesReader(home / "models", "g")
    assert reader.read() and not reader.read()  # nothing new the second time
    first = reader.series()
    assert [s for s, _ in first.train] == list(range(5, 51, 5)) and first.clock[-1] == (50, 12800.0, 10.0)
    assert not first.training
    with open(d / runs.METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": "step", "step": 60, "loss": 0.5, "lr": 1e-3, "tokens_per_s": 1.0, "mfu": None,
                            "elapsed_s": 12.0, "eta_s": None, "grad_norm": 1.0, "tokens": 256 * 60, "threads": 1}) + "\n")
        f.write(json.dumps({"event": "eval", "step": 60, "train_loss": 0.5, "val_loss": 0.6, "val_bpb": 0.9,
                            "best": True}) + "\n")
    runs.acquire_lock(d)
    try:
        assert reader.read()
        grown = reader.series()
    finally:
        runs.release_lock(d)
    assert grown.training and grown.train[-1] == (60, 0.5) and grown.val[-1] == (60, 256 * 60.0, 0.9)
    assert grown.steps == 60 and grown.best_val_bpb == 0.9
    assert grown.val == run_series(home / "models", "g").val  # the same as one full read
