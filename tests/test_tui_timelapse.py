"""Pilot tests of the explorer's time-lapse (widgets/timelapse_view.py): F9 and /timelapse open it, the
keys move the slider across the run's checkpoints, each frame shows what that checkpoint writes and
the heat map marks its column; a run without history says why in one sentence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import make_run, new_app  # noqa: E402
from test_tui import bar_text, command, open_explorer, wait_for  # noqa: E402

from tinygpt_tui.config import SamplingConfig  # noqa: E402
from tinygpt_tui.present import visible  # noqa: E402
from tinygpt_tui.timelapse import open_timelapse  # noqa: E402

SIZE = (120, 40)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_keys_move_the_slider_and_each_frame_writes_its_own_sample(runs_home):
    run = make_run(runs_home / "models", "lapse", history=4)
    app = new_app(run="lapse")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await command(pilot, "/params seed=3 max_new_tokens=16")
        await command(pilot, "Once")
        await wait_for(pilot, lambda: not explorer.busy)
        assert not explorer.query("TimelapseView")  # the tab appears on first use
        await pilot.press("f9")
        view = explorer.query_one("TimelapseView")
        tabs = explorer.query_one("#explorer-tabs")
        assert tabs.active == "timelapse-pane" and app.focused is view
        await wait_for(pilot, lambda: view.matrix is not None and view.frame in view.samples)
        assert view.frame == 3  # it opens on the latest checkpoint
        # what the view shows is what the core says that checkpoint writes, with the generation's seed
        lapse = open_timelapse(run)
        params = SamplingConfig(**{**vars(app.params), "seed": 3, "max_new_tokens": 16})
        expected = [lapse.sample(i, "Once", params).text for i in range(4)]
        assert view.samples[3].text == expected[3]
        shown = str(view.render())
        assert "checkpoint 4/4 · step 50" in shown and visible(expected[3]) in shown
        # the text in view is the prompt and its sample; the last column is the latest weights
        text = explorer.text_in_view()
        assert text.startswith("Once") and view.matrix.text == text
        assert [row[-1] for row in view.matrix.bits] == pytest.approx(
            [row[-1] for row in lapse.surprisal(text).bits], abs=1e-5)
        # , moves one checkpoint back: another step, another sample
        await pilot.press("comma")
        assert view.frame == 2
        await wait_for(pilot, lambda: 2 in view.samples)
        shown = str(view.render())
        assert "checkpoint 3/4 · step 33" in shown and view.samples[2].text == expected[2]
        # the heat map marks the third column: its header has one ▼, over that column
        header = next(line for line in shown.splitlines() if "▼" in line)
        assert header.endswith(" step 33") and header.count("▼") == 1
        cells = next(line for line in shown.splitlines() if line.startswith("mean"))
        assert header.index("▼") == cells.index("█") + 2 * 2
        await pilot.press("home")
        await wait_for(pilot, lambda: 0 in view.samples)
        assert view.frame == 0 and "step 0 " in str(view.render())
        await pilot.press("left")  # the first checkpoint stays the first
        assert view.frame == 0
        await pilot.press("full_stop", "right")
        assert view.frame == 2
        await pilot.press("end")
        assert view.frame == 3 and str(view.render()) != ""
        # F9 again: back to the tokens
        await pilot.press("f9")
        assert tabs.active == "samples-pane"
        # /timelapse TEXT reads that text instead
        await command(pilot, "/timelapse The fox.")
        await wait_for(pilot, lambda: view.matrix is not None and view.matrix.text == "The fox.")
        assert tabs.active == "timelapse-pane" and len(view.matrix.bits) == len("The fox.")


@pytest.mark.anyio
async def test_a_run_without_history_says_why_and_how_to_get_one(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await wait_for(pilot, lambda: app.workbench.loaded)
        await pilot.press("f9")
        view = app.screen.query_one("TimelapseView")
        await wait_for(pilot, lambda: "no checkpoint history" in view.note)
        assert "train it more" in view.note and view.lapse is None
        await pilot.press("comma")  # nothing to move: no error
        assert view.frame == -1


@pytest.mark.anyio
async def test_timelapse_outside_the_explorer_is_one_sentence(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_is(app, "RunsScreen"))
        await command(pilot, "/timelapse")
        assert "/timelapse plays a run back in the explorer" in bar_text(app)


def screen_is(app, name: str) -> bool:
    return type(app.screen).__name__ == name


@pytest.mark.anyio
async def test_the_runs_screen_states_the_size_of_a_runs_history(runs_home):
    from tinygpt_tui.units import human_bytes

    make_run(runs_home / "models", "lapse", history=4)
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_is(app, "RunsScreen") and app.screen.query_one("RunTable").row_count >= 3)
        table = app.screen.query_one("RunTable")
        summary = app.screen.query_one("#run-summary")
        for name in ("lapse", "fixture"):
            table.move_cursor(row=[r.name for r in table.runs].index(name))
            await pilot.pause()
            shown = str(summary.render())
            if name == "lapse":
                size = sum(p.stat().st_size for p in (runs_home / "models" / "lapse" / "history").iterdir())
                assert f"history 4 checkpoints ({human_bytes(size)}" in shown
            else:
                assert "history" not in shown
