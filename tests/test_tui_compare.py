"""The compare screen (tui/screens/compare.py): runs marked on the runs screen, or named in /compare, on
one chart and in one table; a run still training is followed as its metrics grow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinygpt_tui import runs

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import make_run, new_app  # noqa: E402
from test_tui import bar_text as bar  # noqa: E402
from test_tui import command, wait_for  # noqa: E402

SIZE = (120, 40)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def plain(widget) -> str:
    content = widget.render()
    return content.plain if hasattr(content, "plain") else str(content)


def better(models: Path, name: str, by: float = 1.0) -> None:
    """Run ``name`` with evaluations ``by`` bits per byte lower than the fixture's."""
    d = make_run(models, name)
    lines = [json.loads(line) for line in (d / runs.METRICS).read_text().splitlines()]
    for e in lines:
        if e["event"] == "eval":
            e["val_bpb"] = round(e["val_bpb"] - by, 4)
    (d / runs.METRICS).write_text("".join(json.dumps(e) + "\n" for e in lines))


def table_text(screen) -> str:
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(screen.query_one("#compare-table").content)
    return console.export_text()


@pytest.mark.anyio
async def test_space_marks_runs_and_c_compares_them_on_one_chart(runs_home):
    better(runs_home / "models", "beta")
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("RunTable")
        await wait_for(pilot, lambda: table.row_count == 3)
        names = [r.name for r in table.runs]
        for name in ("beta", "fixture", "fresh", "fresh"):  # fresh marked, then unmarked
            table.move_cursor(row=names.index(name))
            await pilot.press("space")
        await wait_for(pilot, lambda: len(table.marked) == 2)
        assert table.marked == ["beta", "fixture"]
        assert str(table.get_row("beta")[0]) == "● beta" and "2 marked" in bar(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and len(app.screen.series) == 2)
        screen = app.screen
        chart = screen.query_one("RunsChart")
        assert [s.name for s in chart.series] == ["beta", "fixture"]
        # each run's validation curve, in bits per byte, against the tokens seen
        beta = next(s for s in chart.series if s.name == "beta")
        steps, ys = chart.points(beta)
        assert steps == [25, 50] and ys == [b for _s, _t, b in beta.val]
        assert chart.x_of(beta, steps) == [25 * 256.0, 50 * 256.0]
        text = table_text(screen)
        for word in ("beta", "fixture", "micro", "27.0k", "12.8k", "best bpb"):
            assert word in text
        assert f"{beta.best_val_bpb:.4f}" in text
        # the keys: x axis, log scale, training loss
        await pilot.press("a")
        assert chart.axis == "time" and chart.x_of(beta, [25]) == [5.0]
        await pilot.press("l")
        assert chart.log_y and "log10" in plain(screen.query_one("#compare-title"))
        await pilot.press("m")
        assert chart.metric == "train" and len(chart.points(beta)[0]) == 10
        assert "one tokenizer" in bar(app)
        await pilot.press("escape")
        assert type(app.screen).__name__ == "RunsScreen"


@pytest.mark.anyio
async def test_marking_a_run_in_a_long_list_keeps_the_view_and_widens_its_column(home):
    for i in range(40):
        make_run(home / "models", f"run-{i:02d}", trained=False, mtime=1_600_000_000 + i)
    app = new_app()
    async with app.run_test(size=(100, 15)) as pilot:
        table = app.screen.query_one("RunTable")
        await wait_for(pilot, lambda: table.row_count == 40)
        table.focus()
        table.move_cursor(row=30)
        await pilot.pause(0.2)
        run, y = table.selected_run, table.scroll_y
        assert y > 0
        await pilot.press("space")  # the mark refills the table, its run column two cells wider
        await wait_for(pilot, lambda: table.marked == [run])
        await pilot.pause(0.2)
        assert table.selected_run == run and table.scroll_y == y
        assert table.columns["run"].width == len(f"● {run}")


@pytest.mark.anyio
async def test_compare_command_names_runs_and_says_what_is_wrong(runs_home):
    better(runs_home / "models", "beta")
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 3)
        await command(pilot, "/compare")
        assert "Which runs?" in bar(app) and "space" in bar(app)
        await command(pilot, "/compare fixture nope")
        assert "no run named 'nope'" in bar(app) and type(app.screen).__name__ == "RunsScreen"
        await command(pilot, "/compare fixture beta fresh")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen" and len(app.screen.series) == 3)
        assert [s.name for s in app.screen.series] == ["fixture", "beta", "fresh"]
        text = table_text(app.screen)
        assert "fresh" in text  # a run never trained: its row says so with dashes
        await command(pilot, "/help compare")
        assert "marked with space" in bar(app)


@pytest.mark.anyio
async def test_a_run_in_training_is_followed_as_its_metrics_grow(runs_home):
    models = runs_home / "models"
    folder = make_run(models, "growing")
    app = new_app()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 3)
            await command(pilot, "/compare fixture growing")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen"
                           and len(app.screen.series) == 2)
            screen = app.screen
            assert not screen.series[1].training and [s for s, _t, _b in screen.series[1].val] == [25, 50]
            # training starts after the screen opened (this test process plays the trainer)
            runs.acquire_lock(folder)
            await wait_for(pilot, lambda: screen.series[1].training)
            assert "following 1 training" in plain(screen.query_one("#compare-title"))
            with open(folder / runs.METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps({"event": "step", "step": 75, "loss": 1.1, "lr": 1e-3, "tokens_per_s": 1.0,
                                    "mfu": None, "elapsed_s": 15.0, "eta_s": None, "grad_norm": 1.0,
                                    "tokens": 256 * 75, "threads": 1}) + "\n")
                f.write(json.dumps({"event": "eval", "step": 75, "train_loss": 1.1, "val_loss": 1.2,
                                    "val_bpb": 1.5, "best": True}) + "\n")
            await wait_for(pilot, lambda: len(screen.series[1].val) == 3)
            assert screen.series[1].val[-1] == (75, 256 * 75.0, 1.5) and screen.series[1].best_val_bpb == 1.5
            assert screen.query_one("RunsChart").series[1].val[-1][2] == 1.5
            assert "1.5000" in table_text(screen)
            # training ends: the last read says so, and following stops
            runs.release_lock(folder)
            await wait_for(pilot, lambda: not screen.series[1].training)
            assert "following" not in plain(screen.query_one("#compare-title"))
    finally:
        runs.release_lock(folder)
