"""runs.py: the layout of models/<run>/, configs, metrics, the training lock and the listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinygpt_tui import runs
from tinygpt_tui.atomic import atomic_path, atomic_write_text
from tinygpt_tui.config import ModelConfig, TinyGPTError
from tinygpt_tui.model import GPT
from tinygpt_tui.presets import preset_config


def test_run_dir_refuses_bad_names(home):
    assert runs.run_dir(home / "models", "ok-1") == home / "models" / "ok-1"
    for bad in ("", "../x", "a/b", ".hidden", "x" * 80):
        with pytest.raises(TinyGPTError):
            runs.run_dir(home / "models", bad)


def test_create_and_load_config_round_trip(home):
    cfg = preset_config("micro", "r1", {"train": {"lr": 0.002}})
    d = runs.create_run(home / "models", cfg)
    assert (d / "config.json").is_file()
    back = runs.load_run_config(home / "models" / "r1")
    assert back == cfg and back.train.lr == 0.002
    with pytest.raises(TinyGPTError, match="already exists"):
        runs.create_run(home / "models", cfg)
    runs.save_run_config(home / "models" / cfg.name, cfg)  # rewriting on purpose is fine


def test_missing_run_is_one_clear_sentence(home):
    with pytest.raises(TinyGPTError, match="no run named 'nope'") as e:
        runs.load_run_config(home / "models" / "nope")
    assert "tinygpt train --run nope" in e.value.hint


@pytest.mark.parametrize("kw", [{}, {"bias": True}, {"tie_weights": False}, {"n_layer": 3, "n_embd": 48, "n_head": 3},
                                {"norm": "rmsnorm"}, {"norm": "rmsnorm", "bias": True, "position": "rotary"},
                                {"position": "rotary", "norm": "rmsnorm", "qk_norm": True, "tie_weights": False}])
def test_estimate_params_matches_the_model(kw):
    m = ModelConfig(**{"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "vocab_size": 100, **kw})
    assert runs.estimate_params(m) == GPT(m).num_params()


def test_atomic_write_keeps_the_old_file_on_failure(home):
    path = home / "f.txt"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old"
    assert [p.name for p in home.iterdir() if p.name.startswith(".f.txt")] == []  # no temp file left


def test_read_metrics_follows_whole_lines(home):
    runs.create_run(home / "models", preset_config("micro", "m"))
    runs.append_metric(home / "models" / "m", {"event": "step", "step": 1})
    events, off = runs.read_metrics(home / "models" / "m")
    assert events == [{"event": "step", "step": 1}]
    with open(home / "models" / "m" / "metrics.jsonl", "a") as f:
        f.write('{"event": "step", "st')  # a writer mid-line
    events, off2 = runs.read_metrics(home / "models" / "m", off)
    assert events == [] and off2 == off
    with open(home / "models" / "m" / "metrics.jsonl", "a") as f:
        f.write('ep": 2}\nnot json\n')
    events, off3 = runs.read_metrics(home / "models" / "m", off2)
    assert events == [{"event": "step", "step": 2}] and off3 > off2
    assert runs.read_metrics(home / "models" / "absent-run-without-file") == ([], 0)


def test_lock_is_exclusive_and_a_stale_one_is_ignored(home):
    runs.create_run(home / "models", preset_config("micro", "l"))
    lock = home / "models" / "l" / "train.lock"
    # a lock held by another live process refuses a second trainer
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.write_text(json.dumps({"pid": proc.pid, "started": 0}))
        assert runs.is_training(home / "models" / "l")
        with pytest.raises(TinyGPTError, match=f"already being trained by process {proc.pid}"):
            runs.acquire_lock(home / "models" / "l")
    finally:
        proc.kill()
        proc.wait()
    # the same lock once its process is gone: stale, taken over
    assert not runs.is_training(home / "models" / "l")
    runs.acquire_lock(home / "models" / "l")
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    runs.release_lock(home / "models" / "l")
    assert not lock.exists()


def test_list_runs_reports_each_run(home):
    runs.create_run(home / "models", preset_config("micro", "a"))
    runs.create_run(home / "models", preset_config("tiny", "b"))
    (home / "models" / "not-a-run").mkdir()
    (home / "models" / "broken").mkdir()
    (home / "models" / "broken" / "config.json").write_text("{not json")
    infos = {r.name: r for r in runs.list_runs(home / "models")}
    assert set(infos) == {"a", "b", "broken"}  # a broken run is listed, with why
    assert "not valid JSON" in infos["broken"].problem
    assert infos["b"].preset == "tiny" and infos["b"].step == 0 and not infos["b"].training
    assert infos["a"].params == runs.estimate_params(runs.load_run_config(home / "models" / "a").model)


def test_listing_ignores_temp_files_and_files_that_vanish(home, monkeypatch):
    runs.create_run(home / "models", preset_config("micro", "a"))
    d = home / "models" / "a"
    (d / ".model.safetensors.x.tmp").write_bytes(b"")  # a checkpoint being written right now
    real_stat = Path.stat

    def flaky_stat(self, *args, **kwargs):
        if self.name == "metrics.jsonl":  # renamed away between listing and stat
            raise FileNotFoundError(self)
        return real_stat(self, *args, **kwargs)

    (d / "metrics.jsonl").write_text("")
    monkeypatch.setattr(Path, "stat", flaky_stat)
    assert [r.name for r in runs.list_runs(home / "models")] == ["a"]


@pytest.mark.parametrize("body", ['{"name": "bad", "data": {"source": 5}}', '{"name": "bad", "model": 3}',
                                  '{"name": 5}', "[1, 2]", "{", '{"name": "bad", "train": {"lr": "x"}}'])
def test_a_malformed_config_is_listed_as_bad_with_why(home, body):
    """Issue 15 item 3: one malformed config.json broke every run listing (the app exited on start)."""
    models = home / "models"
    runs.create_run(models, preset_config("micro", "good"))
    (models / "bad").mkdir(parents=True)
    (models / "bad" / "config.json").write_text(body)
    infos = {r.name: r for r in runs.list_runs(models)}
    assert set(infos) == {"good", "bad"}
    assert infos["good"].problem is None
    assert infos["bad"].problem and not infos["bad"].has_weights
    assert "Traceback" not in infos["bad"].problem


def test_training_memory_tells_a_shape_that_cannot_fit():
    small = preset_config("micro", "r")
    huge = preset_config("micro", "r", {"model": {"n_layer": 1000, "n_embd": 8192, "n_head": 8}})
    assert runs.training_memory(small) < 1e9 < 1e12 < runs.training_memory(huge)


def test_the_lock_appears_with_its_owner_already_written(home, monkeypatch):
    """Issue 15 item 2: the lock was created empty and the pid written after; a second trainer
    arriving in between saw no owner and deleted the live lock."""
    run = home / "models" / "l"
    run.mkdir(parents=True)
    lock = run / runs.LOCK
    seen = []
    real_fsync = os.fsync

    def fsync(fd):
        if not seen:  # the first fsync is the owner's body: the lock must not be visible yet
            seen.append(lock.exists())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    runs.acquire_lock(run)
    assert seen == [False]
    info = json.loads(lock.read_text())
    assert info["pid"] == os.getpid() and info["proc_start"] is not None
    assert not [p for p in run.iterdir() if p.name != runs.LOCK]  # no temporary file left
    runs.release_lock(run)
    assert not lock.exists()


def test_a_lock_whose_pid_was_reused_is_stale(home):
    """Issue 15 item 2: staleness by pid alone made a lock permanent once its pid was reused."""
    from tinygpt_tui.atomic import process_start

    run = home / "models" / "l"
    run.mkdir(parents=True)
    parent = os.getppid()  # alive, but not the process that took this lock
    (run / runs.LOCK).write_text(json.dumps({"pid": parent, "proc_start": process_start(parent) + 1}))
    assert runs.lock_owner(run) is None
    runs.acquire_lock(run)
    assert json.loads((run / runs.LOCK).read_text())["pid"] == os.getpid()
    runs.release_lock(run)
    # the same parent with its true start time is a live owner
    (run / runs.LOCK).write_text(json.dumps({"pid": parent, "proc_start": process_start(parent)}))
    with pytest.raises(TinyGPTError, match=f"process {parent}"):
        runs.acquire_lock(run)
    assert json.loads((run / runs.LOCK).read_text())["pid"] == parent  # left alone


def test_racing_trainers_never_both_hold_the_lock(home):
    """Eight processes take a stale lock at once: exactly one wins."""
    run = home / "models" / "l"
    run.mkdir(parents=True)
    (run / runs.LOCK).write_text(json.dumps({"pid": 2**22 + 7, "proc_start": 1}))  # a dead owner
    code = ("import sys, time; from pathlib import Path; from tinygpt_tui import runs\n"
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
            "try:\n    runs.acquire_lock(Path(sys.argv[1])); print('won'); time.sleep(6)\n"
            "except Exception as e:\n    print('lost', type(e).__name__)\n")
    import time as _time
    start = _time.time() + 3
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(run), str(start)], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(8)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sum(o == "won" for o in outs) == 1, outs


def test_lock_takers_take_turns_on_the_run_folder(home):
    """While another process holds the run folder's flock (it is checking a stale lock), a taker
    waits for it instead of interleaving; then it takes the lock."""
    pytest.importorskip("fcntl")
    run = home / "models" / "t"
    run.mkdir(parents=True)
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True)\n"
            "time.sleep(1.0)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    import time as _time
    t0 = _time.monotonic()
    runs.acquire_lock(run)
    waited = _time.monotonic() - t0
    holder.wait(timeout=30)
    assert waited > 0.3, waited  # it waited for the holder (which held the folder for a second)
    assert runs.lock_owner(run) == os.getpid()
    runs.release_lock(run)
