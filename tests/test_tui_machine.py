"""The training screen's machine panel: the trainer's CPU and memory sampled by its pid, the machine's
CPU, and the GPU figures of the trainer's step events; at 80x24 too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinygpt_tui.events import Start, Step, TrainingState
from tinygpt_tui.machine import Usage
from tinygpt_tui.tui.screens.training import machine_text

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import new_app  # noqa: E402
from test_tui import wait_for  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def panel_text(app) -> str:
    return app.screen.query_one("#train-machine").render().plain


@pytest.mark.anyio
@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_panel_follows_the_trainer_process_while_it_trains(runs_home, monkeypatch, size):
    trainer = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: sum(range(10000))"])
    try:
        app = new_app(run="fixture")
        # the fixture run is trained by "another process": the busy child stands in for it
        monkeypatch.setattr(app.workbench, "is_training", lambda run: run == "fixture")
        monkeypatch.setattr(app.workbench, "training_pid", lambda run: trainer.pid if run == "fixture" else None)
        monkeypatch.setattr(app.training, "attach", lambda run: None)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainingScreen")
            screen = app.screen
            await wait_for(pilot, lambda: screen.status == "watching" and screen.usage is not None
                           and screen.usage.cpu is not None)
            await wait_for(pilot, lambda: "%" in panel_text(app))
            text = panel_text(app)
            assert screen.usage.pid == trainer.pid and screen.usage.rss > 1_000_000
            assert "rss" in text and "MB" in text and "machine" in text
            panel = screen.query_one("#train-machine")
            assert panel.display and panel.region.bottom <= screen.query_one("#train-main").region.bottom
            assert panel.region.right <= screen.query_one("#train-left").region.right
            # the trainer's own GPU figures, from its events
            screen.handle_event(Start(step=50, max_steps=100, max_time=None, params=1, tokens_per_step=1,
                                      device="cuda", dtype="bfloat16", resumed=True, compile=False, threads=1,
                                      peak_flops=1.0, elapsed_s=10.0, gpu_mem_total=80_000_000_000))
            screen.handle_event(Step(step=51, loss=1.0, lr=1e-3, tokens_per_s=1.0, mfu=None, elapsed_s=11.0,
                                     eta_s=None, grad_norm=None, tokens=1, threads=1, gpu_util=45.0,
                                     gpu_mem=2_000_000_000))
            await wait_for(pilot, lambda: "gpu" in panel_text(app))
            assert "45%" in panel_text(app) and "2.0 GB of 80.0 GB" in panel_text(app)
            # the trainer is gone: its figures go with it (the GPU's last reading stays until the end)
            trainer.kill()
            trainer.wait()
            await wait_for(pilot, lambda: screen.usage is None)
            await wait_for(pilot, lambda: "rss" not in panel_text(app))
    finally:
        trainer.kill()
        trainer.wait()


@pytest.mark.anyio
async def test_a_finished_run_shows_no_machine_panel(runs_home):
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        await pilot.press("t")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainingScreen")
        await pilot.pause(1.2)  # a sampling tick
        assert app.screen.usage is None and not app.screen.query_one("#train-machine").display


def test_the_words_of_the_panel():
    usage = Usage(pid=1, processes=3, rss=412_000_000, cpu=183.4, machine_cpu=95.0, cores=16)
    tall = machine_text(usage, TrainingState()).plain
    assert tall == "trainer cpu 183%  rss 412.0 MB in 3 processes\nmachine cpu 95% of 16 cores"
    short = machine_text(usage, TrainingState(gpu_util=None, gpu_mem=3_000_000_000), short=True).plain
    assert short == "cpu 183% (machine 95%)  rss 412.0 MB\ngpu -  mem 3.0 GB"
    first = Usage(pid=1, processes=1, rss=None, cpu=None, machine_cpu=None, cores=2)
    assert "cpu measuring" in machine_text(first, TrainingState()).plain
    assert machine_text(None, TrainingState()).plain == ""
    assert "psutil" in machine_text(None, TrainingState(), available=False).plain
