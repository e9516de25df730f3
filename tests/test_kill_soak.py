"""Kill soak: ``kill -9`` a training process at random instants, inside checkpoint writes included,
and resume it after each kill.

Pass: after every kill the run lists, loads (latest and best) and resumes from the step its resume
point names; and the loss logged for every step, by whichever process logged it, equals the loss an
uninterrupted run logs at that step (CPU, float32: bit for bit).

``pytest -m soak tests/test_kill_soak.py`` runs 100 kills (``TINYGPT_SOAK_KILLS`` and
``TINYGPT_SOAK_SEED`` change the count and the random instants); the quick variant (3 kills) runs in
the normal suite.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinygpt_tui import checkpoint, runs
from tinygpt_tui.presets import preset_config

ROOT = Path(__file__).resolve().parent.parent
MAX_STEPS = 100_000  # never reached: the schedule is the same for the soaked run and the reference


def _env() -> dict[str, str]:
    # one thread in every process: a fresh run probes 1 or 2 threads by the machine's load, and the
    # soaked run and the reference are two fresh runs (a resumed run keeps its own count anyway)
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1", "TINYGPT_THREADS": "1"}


def _make_run(models: Path, name: str, corpus: Path) -> None:
    """A micro, char-tokenized, fp32 CPU run that evaluates, samples and checkpoints every step."""
    overrides = {"data": {"source": str(corpus)}, "tokenizer": {"kind": "char"},
                 "train": {"dtype": "float32", "device": "cpu", "max_steps": MAX_STEPS, "max_time": None,
                           "eval_interval": 1, "eval_iters": 1, "sample_tokens": 2, "log_interval": 1,
                           "warmup_steps": 5}}
    runs.create_run(models, preset_config("micro", name, overrides))


def _spawn(home: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tinygpt_tui.train", "--run", name], cwd=home, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)


def _temp_files(run: Path) -> list[str]:
    try:
        return [n for n in os.listdir(run) if n.startswith(".") and n.endswith(".tmp")]
    except FileNotFoundError:
        return []


def _kill_once(home: Path, run: Path, rng: random.Random) -> dict:
    """Start the trainer, kill -9 it at a random instant chosen by one of three modes; returns what
    happened (the mode, whether a checkpoint write was in progress, the resume step reported)."""
    proc = _spawn(home, run.name)
    mode = rng.choice(["in-write", "after-start", "any"])
    start_step = None
    in_write = False
    try:
        if mode == "any":  # anywhere from interpreter start-up through data preparation into training
            time.sleep(rng.uniform(0.0, 4.0))
        else:
            for line in proc.stdout:
                event = json.loads(line)
                if event["event"] == "start":
                    start_step = event["step"]
                    break
                if event["event"] == "error":
                    raise AssertionError(f"the trainer refused to resume: {event}")
            if mode == "after-start":
                time.sleep(rng.uniform(0.0, 0.6))
            else:  # wait for a checkpoint's temporary file to appear, then kill inside the write
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not _temp_files(run) and proc.poll() is None:
                    pass
        in_write = bool(_temp_files(run))
    finally:
        proc.kill()
        proc.wait()
        rest = proc.stdout.read()
        proc.stdout.close()
    for line in rest.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event["event"] == "start" and start_step is None:
                start_step = event["step"]
    return {"mode": mode, "in_write": in_write or bool(_temp_files(run)), "start_step": start_step}


def _check_survivor(models: Path, run: Path) -> int:
    """The run lists, its resume point loads, and so do its weights; returns the resume step (0: none)."""
    listed = {info.name: info for info in runs.list_runs(models)}
    assert run.name in listed, f"run {run.name} vanished from the listing"
    assert not listed[run.name].training, "the lock of a killed trainer is not seen as stale"
    resume = checkpoint.load_state(run)
    if resume is None:
        assert not (run / runs.WEIGHTS).exists()
        return 0
    step = int(resume[1]["step"])
    assert listed[run.name].step == step
    checkpoint.load_model(run, "latest")
    checkpoint.load_model(run, "best")
    return step


def _step_losses(run: Path) -> dict[int, list[float]]:
    events, _ = runs.read_metrics(run)
    out: dict[int, list[float]] = {}
    for e in events:
        if e.get("event") == "step":
            out.setdefault(int(e["step"]), []).append(e["loss"])
    return out


def _reference_losses(home: Path, name: str, corpus: Path, upto: int) -> dict[int, float]:
    """An uninterrupted run of the same configuration, read until it has logged step ``upto``."""
    _make_run(home / "models", name, corpus)
    proc = _spawn(home, name)
    losses: dict[int, float] = {}
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "step":
                losses[event["step"]] = event["loss"]
                if event["step"] >= upto:
                    break
            assert event["event"] != "error", event
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return losses


def kill_soak(home: Path, corpus: Path, kills: int, seed: int) -> dict:
    models = home / "models"
    run = models / "soak"
    _make_run(models, "soak", corpus)
    rng = random.Random(seed)
    t0 = time.monotonic()
    survived = in_write = 0
    last_step = 0
    for _ in range(kills):
        what = _kill_once(home, run, rng)
        if what["start_step"] is not None:  # the trainer resumed where the last survivor said
            assert what["start_step"] == last_step, (what, last_step)
        last_step = _check_survivor(models, run)
        survived += 1
        in_write += what["in_write"]
    # one last, uninterrupted stretch: it must resume too
    proc = _spawn(home, "soak")
    try:
        for line in proc.stdout:
            event = json.loads(line)
            assert event["event"] != "error", event
            if event["event"] == "start":
                assert event["step"] == last_step and event["resumed"] == (last_step > 0)
            if event["event"] == "step" and event["step"] >= last_step + 2:
                break
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    logged = _step_losses(run)
    top = max(logged)
    reference = _reference_losses(home, "reference", corpus, top)
    assert set(range(1, top + 1)) <= set(logged), "a step was never logged"
    mismatched = {s: (ls, reference[s]) for s, ls in logged.items() if any(v != reference[s] for v in ls)}
    assert not mismatched, f"resumed losses differ from the uninterrupted run: {dict(list(mismatched.items())[:5])}"
    return {"kills": kills, "survived": survived, "killed_inside_a_write": in_write, "steps": top,
            "seconds": round(time.monotonic() - t0, 1)}


@pytest.fixture
def corpus(write_stories) -> Path:
    return write_stories(11, 300)


def test_quick_kill_soak(home, corpus):
    """Three kills: every survivor lists, loads and resumes; losses equal the uninterrupted run's."""
    result = kill_soak(home, corpus, kills=3, seed=1)
    assert result["survived"] == 3


@pytest.mark.soak
def test_kill_soak(home, corpus):
    kills = int(os.environ.get("TINYGPT_SOAK_KILLS", "100"))
    seed = int(os.environ.get("TINYGPT_SOAK_SEED", "15"))
    result = kill_soak(home, corpus, kills=kills, seed=seed)
    print(f"\nkill soak: {json.dumps(result)}")
    assert result["survived"] == kills
