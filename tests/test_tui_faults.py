"""The app never exits unasked: a failure injected into each worker (load, run listing, generation,
score, attention, lens, cuts, vocabulary, versus), a key action, a message handler, a button handler
or a timer ends as a message on screen, the app keeps running and the same screen still answers, and a
failure nobody caught leaves its traceback in ``models/crash.log``."""

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


def crash_log(runs_home) -> str:
    log = runs_home / "models" / "crash.log"
    return log.read_text() if log.is_file() else ""


async def _reported(pilot, app, runs_home, name: str) -> None:
    """``name``'s failure was notified as an internal error and logged with its traceback."""
    await wait_for(pilot, lambda: any(f"injected failure in {name}" in str(n.message) for n in app._notifications))
    assert any(n.title == "internal error" for n in app._notifications)
    assert f"RuntimeError: injected failure in {name}" in crash_log(runs_home)
    assert "Traceback" in crash_log(runs_home)


async def _runs_screen_answers(pilot, app) -> None:
    """The runs screen still answers its keys: n opens the new-run form, escape closes it."""
    assert type(app.screen).__name__ == "RunsScreen"
    app.screen.query_one("#run-table").focus()  # not the command bar, where n would be typed
    await pilot.pause()
    await pilot.press("n")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "NewRunScreen")
    await pilot.press("escape")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen")


async def _runs_listed(pilot, app) -> None:
    from tinygpt_tui.tui.widgets.run_table import RunTable

    await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count > 0)
    await pilot.pause()


@pytest.mark.anyio
async def test_a_failure_in_a_key_action_is_reported_and_the_screen_still_answers(runs_home, monkeypatch):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await _runs_listed(pilot, app)
        monkeypatch.setattr(app.screen, "action_refresh", boom("the refresh key"))
        await pilot.press("r")
        await _reported(pilot, app, runs_home, "the refresh key")
        assert app.is_running and app.return_code is None
        await _runs_screen_answers(pilot, app)
        await _still_running(pilot, app, "the refresh key")


@pytest.mark.anyio
async def test_a_failure_in_a_screen_message_handler_is_reported_and_the_screen_still_answers(runs_home, monkeypatch):
    from tinygpt_tui.tui.screens.runs import RunsScreen

    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await _runs_listed(pilot, app)
        # the RowHighlighted handler (@on, bound to the class) shows the highlighted run's summary
        monkeypatch.setattr(RunsScreen, "_show_summary", boom("the highlight handler"))
        app.screen.query_one("#run-table").focus()
        await pilot.press("down", "up")
        await _reported(pilot, app, runs_home, "the highlight handler")
        monkeypatch.undo()
        await _runs_screen_answers(pilot, app)
        await _still_running(pilot, app, "the highlight handler")


@pytest.mark.anyio
async def test_a_failure_in_an_app_message_handler_is_reported_and_the_app_still_answers(runs_home, monkeypatch):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await _runs_listed(pilot, app)
        # the app's CommandEntered handler hands the line on to handle_command
        monkeypatch.setattr(app, "handle_command", boom("the command handler"))
        await command(pilot, "/params")
        await _reported(pilot, app, runs_home, "the command handler")
        monkeypatch.undo()
        await _runs_screen_answers(pilot, app)
        await _still_running(pilot, app, "the command handler")


@pytest.mark.anyio
async def test_a_failure_in_a_button_handler_is_reported_and_the_screen_still_answers(home, monkeypatch):
    # an empty models folder: the runs screen offers the quick start and new-run buttons
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#new-run-button").display)
        await pilot.pause()
        monkeypatch.setattr(app.dialogs, "new_run", boom("the new-run button"))
        await pilot.click("#new-run-button")
        await _reported(pilot, app, home, "the new-run button")
        monkeypatch.undo()
        app.clear_notifications()
        await pilot.pause()
        # the same button, same screen, now works (pressed as a click would, wherever a toast lies)
        app.screen.query_one("#new-run-button").press()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "NewRunScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        assert app.is_running and app.return_code is None


@pytest.mark.anyio
async def test_a_failure_in_the_run_listing_worker_is_reported(runs_home, monkeypatch):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await _runs_listed(pilot, app)
        monkeypatch.setattr(app.workbench, "list_runs", boom("list_runs"))
        await pilot.press("r")
        await _reported(pilot, app, runs_home, "list_runs")
        monkeypatch.undo()
        await _runs_screen_answers(pilot, app)


@pytest.mark.anyio
async def test_a_failure_in_the_hub_load_worker_is_reported(runs_home, monkeypatch):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await _runs_listed(pilot, app)
        monkeypatch.setattr(app.workbench, "load_hf", boom("load_hf"))
        app.load_hf("./some-model-folder")
        await _reported(pilot, app, runs_home, "load_hf")
        await _still_running(pilot, app, "load_hf")


@pytest.mark.anyio
async def test_a_failure_in_the_versus_worker_is_reported(runs_home, monkeypatch):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        monkeypatch.setattr(app.workbench, "versus", boom("versus"))
        await command(pilot, "/versus fixture The fox ran.")
        await _reported(pilot, app, runs_home, "versus")
        assert app.is_running and app.return_code is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExplorerScreen")
        await _still_running(pilot, app, "versus")


@pytest.mark.anyio
@pytest.mark.parametrize("name, key", [("logit_lens", "f7"), ("sampler_cuts", "f8")])
async def test_a_failure_in_a_token_study_worker_is_said_in_its_view(runs_home, monkeypatch, name, key):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await command(pilot, "/params seed=4 max_new_tokens=6 num_samples=1")
        await command(pilot, "Once upon")
        await wait_for(pilot, lambda: not explorer.busy)
        monkeypatch.setattr(app.workbench, name, boom(name))
        await pilot.press("tab", "right", key)
        await wait_for(pilot, lambda: f"injected failure in {name}" in said(app))
        await _still_running(pilot, app, name)


@pytest.mark.anyio
async def test_a_failure_in_a_timer_callback_is_reported_and_the_timer_goes_on(runs_home):
    from textual.widgets import Static

    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await _runs_listed(pilot, app)
        ticks: list[int] = []

        def tick() -> None:
            ticks.append(1)
            if len(ticks) == 1:
                raise RuntimeError("injected failure in a timer")

        app.screen.set_interval(0.05, tick)
        await _reported(pilot, app, runs_home, "a timer")
        await wait_for(pilot, lambda: len(ticks) >= 3)
        assert app.is_running and app.return_code is None
        assert isinstance(app.screen.query_one("#runs-title"), Static)
