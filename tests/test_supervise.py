"""supervise.py: training in its own process, and following a run another process trains."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from tinygpt_tui import events as ev
from tinygpt_tui.presets import preset_config
from tinygpt_tui.supervise import MetricsFollower
from tinygpt_tui.workbench import Workbench

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import TEXT  # noqa: E402


@pytest.fixture
def workbench(runs_home, workspace) -> Workbench:
    return Workbench(workspace)


# -- following metrics.jsonl -------------------------------------------------------------------
def test_follower_reads_history_then_new_lines_until_done(workbench, home):
    follower = MetricsFollower(home / "models" / "fixture", poll=0.02)
    history = list(follower.events(follow=False))
    assert isinstance(history[0], ev.Stage) and isinstance(history[-1], ev.Done)

    path = home / "models" / "fixture" / "metrics.jsonl"
    follower = workbench.attach("fixture", since_offset=path.stat().st_size)
    # pretend another process holds the lock while it appends
    (home / "models" / "fixture" / "train.lock").write_text(json.dumps({"pid": __import__("os").getpid()}))

    def writer():
        with open(path, "a") as f:
            for step in (60, 70):
                time.sleep(0.05)
                f.write(ev.Step(step=step, loss=1.0, lr=1e-3, tokens_per_s=1.0, mfu=None, elapsed_s=1.0, eta_s=None,
                                grad_norm=None, tokens=step, threads=1).to_json() + "\n")
                f.flush()
            f.write(json.dumps({"event": "step", "step": 71}) + "\n")  # damaged: read, said, not fatal
            f.write(ev.Done(step=70, reason="finished").to_json() + "\n")

    threading.Thread(target=writer).start()
    got = [type(e).__name__ for e in follower.events()]
    assert got == ["Step", "Step", "EventError", "Done"]


def test_follower_ends_when_the_trainer_vanished(workbench, home):
    follower = MetricsFollower(home / "models" / "fresh", poll=0.02)
    start = time.monotonic()
    assert list(follower.events()) == []
    assert time.monotonic() - start < 5


# -- training in a separate process -----------------------------------------------------------
def _micro_run(workbench: Workbench, name: str, steps: int) -> None:
    corpus = Path("corpus.txt")
    corpus.write_text((TEXT + "<|endoftext|>\n") * 40, encoding="utf-8")
    cfg = preset_config("micro", name, {"data": {"source": str(corpus.resolve())}, "tokenizer": {"kind": "char"},
                                         "train": {"max_steps": steps, "eval_interval": 5, "log_interval": 1,
                                                   "warmup_steps": 1, "eval_iters": 1}})
    workbench.create_run(cfg)


@pytest.mark.slow
def test_training_process_runs_stops_with_a_checkpoint_and_resumes(workbench):
    _micro_run(workbench, "proc", steps=400)
    proc = workbench.start_training("proc")
    # starting a run this workbench already trains returns the same process
    assert workbench.start_training("proc") is proc
    kinds = []
    for event in proc.events(timeout=120):
        kinds.append(event.kind)
        if isinstance(event, ev.Step) and event.step >= 6:
            proc.stop()
    assert proc.wait(timeout=60) == 0
    assert "stage" in kinds and "start" in kinds and "checkpoint" in kinds
    assert kinds[-1] == "done"
    # the process folds what it read: the state every face renders
    assert proc.state.status == "done" and proc.state.reason == "interrupted" and proc.state.resumable
    step = proc.state.step
    assert workbench.has_weights("proc") and not workbench.is_training("proc")

    # resume: the new process starts where the first stopped
    proc2 = workbench.start_training("proc")
    for event in proc2.events(timeout=120):
        if isinstance(event, ev.Start):
            assert event.resumed is True and event.step == step
            proc2.stop()
    assert proc2.wait(timeout=60) == 0


def test_a_process_that_dies_silently_yields_an_error_event(workbench):
    proc = workbench.start_training("fresh", extra_args=["--no-such-option"])
    events = list(proc.events(timeout=60))
    assert isinstance(events[-1], ev.Error)
    assert "exited with code 2" in events[-1].message
    assert "no-such-option" in events[-1].hint
    assert proc.state.status == "error" and proc.state.error == events[-1].message


def test_the_training_process_gets_the_workspace_as_flags(workbench, workspace, monkeypatch):
    """Not through the environment: a TINYGPT_MODELS pointing elsewhere changes nothing."""
    monkeypatch.setenv("TINYGPT_MODELS", str(workspace.models / "elsewhere"))
    proc = workbench.start_training("fresh", extra_args=["--no-such-option"])
    args = proc.proc.args
    assert args[args.index("--models-dir") + 1] == str(workspace.models.resolve())
    assert args[args.index("--data-dir") + 1] == str(workspace.data.resolve())
    list(proc.events(timeout=60))
