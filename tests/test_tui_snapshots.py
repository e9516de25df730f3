"""Snapshot tests: each screen rendered at a fixed terminal size from deterministic fixture runs.

Nothing time-dependent reaches the screen: the fixture's metrics carry fixed values, generation is
seeded, the one timing line (tokens/s after a generation) is replaced before the picture is taken, and
a focused input's cursor stays drawn instead of blinking (a picture taken half a second later on a
slower machine would otherwise catch it off).
Update the pictures after an intended change with ``pytest tests/test_tui_snapshots.py -n 0 --snapshot-update``
(in one process: under pytest-xdist the snapshot plugin neither deletes nor reports unused pictures).

Run as a script, this file also writes the README screenshots of a real run:
``python tests/test_tui_snapshots.py --run NAME [--models-dir models] [--out docs/screenshots]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import new_app  # noqa: E402

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
"""Every screen at the smallest terminal it must fit and at a roomy one."""
PROMPT = "Once upon a time"


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch):
    """Inputs keep their cursor drawn: the blink is a half-second timer, so whether a picture shows the
    cursor would depend on how long the machine took to reach the state photographed."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


async def settle(pilot, predicate, timeout: float = 30.0) -> None:
    """Run the app until ``predicate()`` holds (a widget it asks for may not be composed yet)."""
    from textual.css.query import NoMatches

    def holds() -> bool:
        try:
            return bool(predicate())
        except NoMatches:
            return False

    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, "the app did not reach the state to photograph"
        await pilot.pause(0.05)
    await pilot.pause()


async def run_command(pilot, line: str) -> None:
    from tinygpt_tui.tui.widgets.command_bar import CommandBar

    bar = pilot.app.screen.query_one(CommandBar)
    bar.focus_input()
    bar.input.value = line
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


def tables_sized(app) -> bool:
    """Whether every table on the screen has taken the size of the rows and cells it was given: a
    DataTable fits its auto-width columns and its scroll extent when the app is next idle, and a
    picture taken before then (a busy machine) would show the widths of the rows it had before."""
    from textual.widgets import DataTable

    return all(not t._require_update_dimensions and not t._updated_cells
               for t in app.screen.query(DataTable))


async def steady(pilot, timeout: float = 10.0) -> None:
    """Run the app until two pictures of its screen a tenth of a second apart are the same: what a
    refresh already asked for (a header that grew a line, a scroll) is drawn before the picture."""
    deadline = time.monotonic() + timeout
    before = pilot.app.export_screenshot()
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        now = pilot.app.export_screenshot()
        if now == before:
            return
        before = now


@pytest.fixture
def snap(snap_compare):
    """``snap_compare`` whose picture waits, after ``run_before`` (and the keys it is given), until the
    screen's tables are sized (:func:`tables_sized`) and the screen is steady (:func:`steady`): on a
    busy machine the picture was otherwise taken before the last asked-for refresh was drawn."""
    def compare(app, *, run_before=None, press=(), **kwargs):
        async def before(pilot) -> None:
            if run_before is not None:
                await run_before(pilot)
            for key in press:  # pressed here, so the waits below come after them too
                await pilot.press(key)
            await settle(pilot, lambda: tables_sized(pilot.app))
            await steady(pilot)

        return snap_compare(app, run_before=before, **kwargs)

    return compare


def name_of(app) -> str:
    return type(app.screen).__name__


async def runs_listed(pilot) -> None:
    await settle(pilot, lambda: pilot.app.screen.query_one("RunTable").row_count >= 1)


async def explorer_with_tokens(pilot, *, select: int = 3, params: str = "seed=4 max_new_tokens=48 num_samples=2") -> None:
    """Generate from PROMPT with fixed params, select a token, and leave a timing-free message."""
    app = pilot.app
    await settle(pilot, lambda: name_of(app) == "ExplorerScreen" and app.workbench.loaded)
    await run_command(pilot, f"/params {params}")
    await run_command(pilot, PROMPT)
    await settle(pilot, lambda: not app.screen.busy)
    await pilot.press("tab", *["right"] * select)
    # the generation message holds a measured speed: show the (fixed) parameters instead
    await run_command(pilot, "/params")
    app.screen.query_one("TokenView.sample-view").focus(scroll_visible=False)
    await pilot.pause()
    # the samples panel scrolls as tokens stream in; where it stops depends on timing: photograph it
    # from the top (what a reader scrolls back to), never from wherever the stream left it
    app.screen.query_one("#samples-scroll").scroll_home(animate=False)
    await pilot.pause()


# -- the snapshots -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(size, runs_home, snap):
    assert snap(new_app(), terminal_size=size, run_before=runs_listed)


@pytest.mark.parametrize("size", SIZES)
def test_quick_start_screen(size, home, snap, monkeypatch):
    # the panel quotes the quick-start preset's numbers; pin them so tuning the preset does not
    # change this picture (the pilot test covers the real quick start)
    from tinygpt_tui.presets import preset_config
    from tinygpt_tui.tui.screens import runs as runs_screen

    pinned = preset_config("tiny", "quick", {
        "model": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128},
        "train": {"max_time": 150.0}, "tokenizer": {"kind": "bpe", "vocab_size": 2048},
        "data": {"source": "storybook"}})
    monkeypatch.setattr(runs_screen, "quick_start_config", lambda: pinned, raising=False)

    async def empty(pilot):
        await settle(pilot, lambda: pilot.app.screen.query_one("#quick-start").display)

    assert snap(new_app(), terminal_size=size, run_before=empty)


@pytest.mark.parametrize("size", SIZES)
def test_new_run_form_with_an_error(size, runs_home, snap):
    async def form(pilot):
        await runs_listed(pilot)
        await pilot.press("n")
        await settle(pilot, lambda: name_of(pilot.app) == "NewRunScreen")
        pilot.app.screen.query_one("#field-name").value = "stories"
        pilot.app.screen.query_one("#field-vocab_size").value = "100"
        await pilot.pause()

    assert snap(new_app(), terminal_size=size, run_before=form)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_with_a_selected_token(size, runs_home, snap):
    assert snap(new_app(run="fixture"), terminal_size=size, run_before=explorer_with_tokens)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_hex_view(size, runs_home, snap):
    async def hex_view(pilot):
        await explorer_with_tokens(pilot, select=1, params="seed=4 max_new_tokens=24 num_samples=1")
        await pilot.press("v", "v")  # boundaries -> pieces -> hex

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=hex_view)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_prompt_tokens(size, runs_home, snap):
    async def prompt_tokens(pilot):
        await explorer_with_tokens(pilot, select=0, params="seed=4 max_new_tokens=8 num_samples=1")
        await pilot.press("f6")
        await pilot.pause()

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=prompt_tokens)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_score_mode(size, runs_home, snap):
    async def scored(pilot):
        app = pilot.app
        await settle(pilot, lambda: name_of(app) == "ExplorerScreen" and app.workbench.loaded)
        await pilot.press("f2")
        await run_command(pilot, "The fox met a kind bear.")
        await settle(pilot, lambda: bool(app.screen.query_one("#score-view").records))
        await pilot.press("tab", "right", "right")

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=scored)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_attention_tab(size, runs_home, snap):
    async def attention(pilot):
        await explorer_with_tokens(pilot, select=6, params="seed=4 max_new_tokens=24 num_samples=1")
        await pilot.press("f5")
        view = pilot.app.screen.query_one("AttentionView")
        await settle(pilot, lambda: view.maps is not None)

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=attention)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_lens_tab(size, runs_home, snap):
    async def lens(pilot):
        await explorer_with_tokens(pilot, select=6, params="seed=4 max_new_tokens=24 num_samples=1")
        await pilot.press("f7")
        view = pilot.app.screen.query_one("LensView")
        await settle(pilot, lambda: view.result is not None)

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=lens)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_cuts_tab(size, runs_home, snap):
    async def cuts(pilot):
        await explorer_with_tokens(pilot, select=6, params="seed=4 max_new_tokens=24 num_samples=1 "
                                                          "temperature=0.8 top_k=5 top_p=0.9")
        await pilot.press("f8")
        view = pilot.app.screen.query_one("CutsView")
        await settle(pilot, lambda: view.result is not None)

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=cuts)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_branches_tab(size, runs_home, snap):
    async def branched(pilot):
        await explorer_with_tokens(pilot, select=3, params="seed=4 max_new_tokens=24 num_samples=1")
        await pilot.press("b", "enter")  # the most likely alternative that is not the token
        screen = pilot.app.screen
        await settle(pilot, lambda: len(screen.query_one("BranchPane").branch_tree.branches) == 2
                     and not screen.query_one("BranchPane").busy)
        await run_command(pilot, "/params")  # a fixed message line
        screen.query_one("#branch-view").focus(scroll_visible=False)
        screen.query_one("#branches-scroll").scroll_home(animate=False)
        await pilot.pause()

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=branched)


@pytest.mark.parametrize("size", SIZES)
def test_explorer_timelapse_tab(size, runs_home, snap):
    from fixtures_runs import make_run

    make_run(runs_home / "models", "lapse", history=6)

    async def timelapse(pilot):
        await explorer_with_tokens(pilot, select=0, params="seed=4 max_new_tokens=12 num_samples=1")
        await pilot.press("f9")
        view = pilot.app.screen.query_one("TimelapseView")
        await settle(pilot, lambda: view.matrix is not None and view.frame in view.samples)
        await pilot.press("comma", "comma")  # two checkpoints back from the latest
        await settle(pilot, lambda: view.frame == 3 and 3 in view.samples)
        pilot.app.screen.query_one("#timelapse-scroll").scroll_home(animate=False)
        await pilot.pause()

    assert snap(new_app(run="lapse"), terminal_size=size, run_before=timelapse)


@pytest.mark.parametrize("size", SIZES)
def test_training_screen(size, runs_home, snap):
    async def training(pilot):
        await runs_listed(pilot)
        await pilot.press("t")
        await settle(pilot, lambda: name_of(pilot.app) == "TrainingScreen")
        await pilot.pause(0.3)  # one redraw tick

    assert snap(new_app(), terminal_size=size, run_before=training)


@pytest.mark.parametrize("size", SIZES)
def test_training_screen_with_its_story(size, runs_home, snap):
    from fixtures_runs import make_run

    make_run(runs_home / "models", "storied", stories=True)

    async def training(pilot):
        await settle(pilot, lambda: pilot.app.screen.query_one("RunTable").row_count >= 3)
        pilot.app.show_training("storied")
        await settle(pilot, lambda: name_of(pilot.app) == "TrainingScreen"
                     and pilot.app.screen.query_one("#train-story-scroll").display)
        await pilot.pause(0.3)  # one redraw tick

    assert snap(new_app(), terminal_size=size, run_before=training)


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen(size, runs_home, snap):
    import json

    from fixtures_runs import make_run

    from tinygpt_tui import runs

    # a second run that learned faster, and a third with no evaluation yet
    d = make_run(runs_home / "models", "faster")
    lines = [json.loads(line) for line in (d / runs.METRICS).read_text().splitlines()]
    for e in lines:
        if e["event"] == "eval":
            e["val_bpb"] = round(e["val_bpb"] * 0.7, 4)
    (d / runs.METRICS).write_text("".join(json.dumps(e) + "\n" for e in lines))

    async def compared(pilot):
        await settle(pilot, lambda: pilot.app.screen.query_one("RunTable").row_count >= 3)
        await run_command(pilot, "/compare fixture faster fresh")
        await settle(pilot, lambda: name_of(pilot.app) == "CompareScreen" and len(pilot.app.screen.series) == 3)
        await pilot.pause(0.3)

    assert snap(new_app(), terminal_size=size, run_before=compared)


@pytest.mark.parametrize("size", SIZES)
def test_vocabulary_screen(size, runs_home, snap):
    async def vocab(pilot):
        app = pilot.app
        await settle(pilot, lambda: name_of(app) == "ExplorerScreen" and app.workbench.loaded)
        await pilot.press("f4")
        await settle(pilot, lambda: name_of(app) == "VocabScreen" and app.screen.rows)

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=vocab)


@pytest.mark.parametrize("size", SIZES)
def test_vocabulary_sorted_by_under_trained_score(size, runs_home, snap):
    async def vocab(pilot):
        app = pilot.app
        await settle(pilot, lambda: name_of(app) == "ExplorerScreen" and app.workbench.loaded)
        await pilot.press("f4")
        await settle(pilot, lambda: name_of(app) == "VocabScreen" and app.screen.rows)
        app.screen.sort_by("under")

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=vocab)


@pytest.mark.parametrize("size", SIZES)
def test_versus_screen(size, runs_home, snap):
    from fixtures_runs import make_run

    make_run(runs_home / "models", "other", seed=1)

    async def versus(pilot):
        app = pilot.app
        await settle(pilot, lambda: name_of(app) == "ExplorerScreen" and app.workbench.loaded)
        await run_command(pilot, "/versus other The fox met a kind bear.")
        await settle(pilot, lambda: name_of(app) == "VersusScreen" and app.screen.result is not None)

    assert snap(new_app(run="fixture"), terminal_size=size, run_before=versus)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(size, runs_home, snap):
    assert snap(new_app(), terminal_size=size, press=["f1"], run_before=runs_listed)


# -- README screenshots of a real run ------------------------------------------------------------------
async def timelapse_shot(pilot, shot) -> None:
    """The Time-lapse tab on the text in view, two checkpoints back from the latest, photographed; then
    back to the tokens."""
    await pilot.press("f9")
    view = pilot.app.screen.query_one("TimelapseView")
    await settle(pilot, lambda: view.matrix is not None or "no checkpoint history" in view.note, timeout=300)
    if view.lapse is not None:
        await pilot.press("comma", "comma")
        await settle(pilot, lambda: view.frame in view.samples, timeout=120)
    shot(pilot.app, "timelapse")
    await pilot.press("f9")


def save_docs_screenshots(run: str, out: Path, size: tuple[int, int] = (130, 38), workspace=None,
                          versus: str | None = None, hf: str | None = None,
                          compare: list[str] | None = None) -> list[Path]:
    """Photograph every screen of ``run`` (in ``workspace``, default ./models) into ``out``, the explorer's
    lens, cuts and branches views, ``run`` against the run ``versus``, the runs ``compare`` side by side
    and the explorer on the Hugging Face model folder ``hf`` when they are given; returns the files."""
    import asyncio

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def shot(app, name: str) -> None:
        saved.append(Path(app.save_screenshot(f"{name}.svg", path=str(out))))

    async def main() -> None:
        app = new_app(**({"workspace": workspace} if workspace else {}))
        async with app.run_test(size=size) as pilot:
            await runs_listed(pilot)
            shot(app, "runs")
            await pilot.press("n")
            await settle(pilot, lambda: name_of(app) == "NewRunScreen")
            shot(app, "new-run")
            await pilot.press("escape")
            await run_command(pilot, f"/load {run}")
            await explorer_with_tokens(pilot, select=5, params="seed=7 max_new_tokens=60 num_samples=2 temperature=0.8")
            shot(app, "explorer")
            await pilot.press("f3", "f3")
            shot(app, "explorer-hex")
            await pilot.press("f3", "f3", "f6")
            await pilot.pause()
            shot(app, "prompt-tokens")
            await pilot.press("f2")
            await run_command(pilot, "Once upon a time there was a little girl named Lily. She loved to play outside.")
            await settle(pilot, lambda: bool(app.screen.query_one("#score-view").records))
            await pilot.press("tab", "right", "right", "right")
            shot(app, "score")
            await timelapse_shot(pilot, shot)
            await pilot.press("f4")
            await settle(pilot, lambda: name_of(app) == "VocabScreen" and app.screen.rows)
            shot(app, "vocabulary")
            app.screen.sort_by("under")  # the most under-trained first, the score columns in view
            table = app.screen.query_one("#vocab-table")
            await pilot.pause()
            table.scroll_to(x=table.max_scroll_x, animate=False)
            await pilot.pause()
            shot(app, "vocabulary-under")
            await pilot.press("escape")
            await pilot.pause()
            app.show_runs()
            await runs_listed(pilot)
            app.show_training(run)
            await settle(pilot, lambda: name_of(app) == "TrainingScreen")
            await pilot.pause(0.5)
            shot(app, "training")
            await pilot.press("f1")
            await pilot.pause()
            shot(app, "help")

    async def views() -> None:
        app = new_app(**({"workspace": workspace} if workspace else {}))
        async with app.run_test(size=size) as pilot:
            await runs_listed(pilot)
            await run_command(pilot, f"/load {run}")
            await explorer_with_tokens(pilot, select=8, params="seed=7 max_new_tokens=60 num_samples=1 "
                                                               "temperature=0.8 top_k=40 top_p=0.9")
            await pilot.press("f7")
            await settle(pilot, lambda: app.screen.query_one("LensView").result is not None)
            shot(app, "lens")
            await pilot.press("f8")
            await settle(pilot, lambda: app.screen.query_one("CutsView").result is not None)
            shot(app, "cuts")
            await pilot.press("f5")
            await settle(pilot, lambda: app.screen.query_one("AttentionView").maps is not None)
            shot(app, "attention")
            app.screen.query_one("TokenView.sample-view").focus(scroll_visible=False)
            await pilot.press("b", "enter")
            pane = app.screen.query_one("BranchPane")
            await settle(pilot, lambda: len(pane.branch_tree.branches) == 2 and not pane.busy, timeout=120)
            await run_command(pilot, "/params")
            app.screen.query_one("#branches-scroll").scroll_home(animate=False)
            await pilot.pause()
            shot(app, "branches")
            if versus:
                await run_command(pilot, f"/versus {versus} Once upon a time there was a little girl named "
                                         "Lily. She loved to play outside in the park with her dog.")
                await settle(pilot, lambda: name_of(app) == "VersusScreen" and app.screen.result is not None,
                             timeout=120)
                shot(app, "versus")
        if compare:
            app = new_app(**({"workspace": workspace} if workspace else {}))
            async with app.run_test(size=size) as pilot:
                await runs_listed(pilot)
                await run_command(pilot, "/compare " + " ".join(compare))
                await settle(pilot, lambda: name_of(app) == "CompareScreen" and len(app.screen.series) == len(compare))
                await pilot.pause(0.5)
                shot(app, "compare")
        if hf:
            app = new_app(hf=hf, **({"workspace": workspace} if workspace else {}))
            async with app.run_test(size=size) as pilot:
                await explorer_with_tokens(pilot, select=5, params="seed=7 max_new_tokens=60 num_samples=1")
                shot(app, "hf-explorer")

    asyncio.run(main())
    asyncio.run(views())
    return saved


def save_live_training_screenshot(run: str, out: Path, size: tuple[int, int] = (130, 38), workspace=None,
                                  evaluations: int = 2) -> Path:
    """Photograph the training screen of ``run`` while another process trains it, once its story has
    been scored at ``evaluations`` evaluations after the first (so the falls since the one before show)."""
    import asyncio

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    async def main() -> None:
        app = new_app(**({"workspace": workspace} if workspace else {}))
        async with app.run_test(size=size) as pilot:
            await runs_listed(pilot)
            app.show_training(run)
            await settle(pilot, lambda: name_of(app) == "TrainingScreen")
            seen: set[int] = set()

            def scored() -> bool:
                step = app.screen.state.story_step
                if step is not None:
                    seen.add(step)
                return len(seen) > evaluations

            await settle(pilot, scored, timeout=900)
            await pilot.pause(1.5)  # the machine panel's first reading
            saved.append(Path(app.save_screenshot("training-live.svg", path=str(out))))

    asyncio.run(main())
    return saved[0]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write the README screenshots of a trained run.")
    parser.add_argument("--run", required=True)
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--versus", help="a second run to set against --run")
    parser.add_argument("--hf", help="a Hugging Face model folder to open in the explorer")
    parser.add_argument("--compare", nargs="+", help="runs to compare side by side")
    parser.add_argument("--live", action="store_true",
                        help="only the training screen of --run while another process trains it")
    args = parser.parse_args()
    from tinygpt_tui.workspace import Workspace

    workspace = Workspace.from_env(args.models_dir, args.data_dir).resolved()
    if args.live:
        print(save_live_training_screenshot(args.run, Path(args.out), workspace=workspace))
        raise SystemExit(0)
    for path in save_docs_screenshots(args.run, Path(args.out), workspace=workspace, versus=args.versus,
                                      hf=args.hf, compare=args.compare):
        print(path)
