"""Guarded: a failing handler, action or timer of a guarded widget goes to the app's report_failure and
the widget's message loop goes on; without that hook Textual's default (exit) still applies."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Static

from tinygpt_tui.tui.guard import Guarded


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Poke(Message):
    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fail = fail


class Target(Guarded, Static):
    def __init__(self) -> None:
        super().__init__("")
        self.handled = 0

    def on_poke(self, message: Poke) -> None:
        if message.fail:
            raise RuntimeError("poked to fail")
        self.handled += 1


class Reporting(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.reported: list[BaseException] = []

    def compose(self) -> ComposeResult:
        yield Target()

    def report_failure(self, error: BaseException) -> None:
        self.reported.append(error)


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Target()


@pytest.mark.anyio
async def test_a_failing_handler_is_reported_and_the_loop_goes_on():
    app = Reporting()
    async with app.run_test() as pilot:
        target = app.query_one(Target)
        target.post_message(Poke(fail=True))
        target.post_message(Poke(fail=False))
        await pilot.pause()
        await pilot.pause()
        assert [str(e) for e in app.reported] == ["poked to fail"]
        assert target.handled == 1  # the message after the failure was handled: the loop still runs
        assert app.is_running


@pytest.mark.anyio
async def test_a_failing_timer_is_reported_and_keeps_ticking():
    app = Reporting()
    async with app.run_test() as pilot:
        target = app.query_one(Target)
        ticks: list[int] = []

        def tick() -> None:
            ticks.append(1)
            raise RuntimeError("tick")

        target.set_interval(0.01, tick)
        for _ in range(50):
            if len(ticks) >= 3:
                break
            await pilot.pause(0.02)
        assert len(app.reported) == len(ticks) >= 3  # each tick failed, was reported, and the next came
        assert all(str(e) == "tick" for e in app.reported)


@pytest.mark.anyio
async def test_without_report_failure_textual_default_applies():
    app = Bare()
    with pytest.raises(RuntimeError, match="poked to fail"):
        async with app.run_test() as pilot:
            app.query_one(Target).post_message(Poke(fail=True))
            await pilot.pause()
            await pilot.pause()
