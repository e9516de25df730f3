"""The app never exits unasked: a failure injected into each worker (load, generation, score,
attention, vocabulary) ends as a message on screen, the app keeps running, and a failure nobody
caught leaves its traceback in ``models/crash.log``."""

from __future__ import annotations

import pytest
from fixtures_runs import new_app
from test_tui import SIZE, bar_text, command, open_explorer, wait_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def said(app) -> str:
    """What the app shows the user: notifications, the command bar, notes in the current screen."""
    notes = " ".join(str(n.message) for n in app._notifications)
    try:
        bar = bar_text(app)
    except Exception:  # a screen without a command bar (the vocabulary)
        bar = ""
    shown = " ".join(str(getattr(w, "note", "") or "") + str(getattr(w, "content", "") or "")
                     for w in app.screen.query("*"))
    return f"{notes} {bar} {shown}"


def boom(name: str):
    def broken(*args, **kwargs):
        raise RuntimeError(f"injected failure in {name}")

    return broken


async def _still_running(pilot, app, name: str) -> None:
    await wait_for(pilot, lambda: f"injected failure in {name}" in said(app))
    await pilot.pause(0.2)
    assert app.is_running and app.return_code is None, f"the app exited after a failure in {name}"
    if type(app.screen).__name__ == "VocabScreen":
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExplorerScreen")
    await command(pilot, "/params")  # and it still answers
    await wait_for(pilot, lambda: "temperature" in said(app))


@pytest.mark.anyio
async def test_a_failure_in_the_load_worker_is_notified_and_logged(runs_home, monkeypatch):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app.workbench, "load", boom("load"))
        app.open_run("fixture")
        await _still_running(pilot, app, "load")
    log = runs_home / "models" / "crash.log"
    assert log.is_file() and "RuntimeError: injected failure in load" in log.read_text()
    assert "Traceback" in log.read_text()


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["generate", "score", "attention", "vocab_stats"])
async def test_a_failure_in_each_explorer_worker_keeps_the_app_running(runs_home, monkeypatch, name):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        if name == "attention":  # a generation to look at first, then the attention of a token
            await command(pilot, "/params seed=4 max_new_tokens=6 num_samples=1")
            await command(pilot, "Once upon")
            await wait_for(pilot, lambda: not explorer.busy)
        monkeypatch.setattr(app.workbench, name, boom(name))
        if name == "generate":
            await command(pilot, "Once upon")
        elif name == "score":
            await pilot.press("f2")
            await command(pilot, "The fox ran.")
        elif name == "attention":
            await pilot.press("tab", "right", "right", "right")
            await pilot.press("f5")
        else:
            await command(pilot, "/tokens")
        await _still_running(pilot, app, name)
