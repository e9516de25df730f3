"""The app attaching to a run that another process trains: a real trainer (``python -m
tinygpt_tui.train``, as another terminal would start it), no fakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_runs import new_app
from test_tui import SIZE, wait_for

from tinygpt_tui import runs
from tinygpt_tui.presets import preset_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_app_attaches_to_a_run_another_process_trains(home, write_stories):
    corpus = write_stories(4, 200)
    cfg = preset_config("micro", "elsewhere", {
        "data": {"source": str(corpus)}, "tokenizer": {"kind": "char"},
        "train": {"dtype": "float32", "device": "cpu", "max_steps": 100_000, "eval_interval": 100_000,
                  "log_interval": 1}})
    run = runs.create_run(home / "models", cfg)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "tinygpt_tui.train", "--run", "elsewhere"], cwd=home, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not any(e.get("event") == "step" for e in runs.read_metrics(run)[0]):
            assert proc.poll() is None and time.monotonic() < deadline, "the trainer never reached a step"
            time.sleep(0.1)
        app = new_app(run="elsewhere")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainingScreen")
            screen = app.screen
            await wait_for(pilot, lambda: screen.status == "watching")
            first = screen.state.step
            await wait_for(pilot, lambda: screen.state.step > first + 2, timeout=60)  # live, not a replay
            assert app.workbench.training.get("elsewhere") is None  # watched, never owned
            proc.send_signal(signal.SIGINT)  # the other terminal stops it: the app sees the end
            await wait_for(pilot, lambda: screen.state.status == "done", timeout=60)
            assert screen.state.reason == "interrupted"
            assert app.is_running
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert runs.state_summary(run)["step"] >= 3
