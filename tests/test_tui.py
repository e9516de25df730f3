"""Pilot tests of the Textual app: every screen and command, good input and bad."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinygpt_tui.config import SamplingConfig
from tinygpt_tui.events import Stage, Step, fold
from tinygpt_tui.present import visible
from tinygpt_tui.presets import preset_config

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import TEXT, new_app  # noqa: E402

SIZE = (120, 40)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run through anyio's pytest plugin, on asyncio (Textual's loop)."""
    return "asyncio"


async def wait_for(pilot, predicate, timeout: float = 20.0) -> None:
    """Let the app run until ``predicate()`` holds (workers finish, messages arrive)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            try:
                said = bar_text(pilot.app)
            except Exception:
                said = "(no command bar)"
            raise AssertionError(f"timed out on {screen_name(pilot.app)}; the command bar says: {said!r}")
        await pilot.pause(0.05)


def bar_text(app) -> str:
    from tinygpt_tui.tui.widgets.command_bar import CommandBar

    return app.screen.query_one(CommandBar).message_text


def screen_name(app) -> str:
    return type(app.screen).__name__


async def command(pilot, line: str) -> None:
    """Type ``line`` into the current screen's command bar and press enter."""
    from tinygpt_tui.tui.widgets.command_bar import CommandBar

    bar = pilot.app.screen.query_one(CommandBar)
    bar.focus_input()
    bar.input.value = line  # typing itself is exercised by the tmux test
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


async def generate_seeded(pilot, prompt: str, tokens: int, *, at_least: int = 3, samples: int = 1,
                          accept=None) -> int:
    """Generate ``prompt`` in the explorer with a seed whose first sample has at least ``at_least``
    tokens (random fixture weights may end early) and passes ``accept(records)``; returns the seed."""
    app = pilot.app

    def fits(seed: int) -> bool:
        records = list(app.workbench.generate(prompt, SamplingConfig(seed=seed, max_new_tokens=tokens)))
        return len(records) >= at_least and (accept is None or accept(records))

    seed = next(s for s in range(200) if fits(s))
    await command(pilot, f"/params seed={seed} max_new_tokens={tokens}" + (f" num_samples={samples}" if samples > 1 else ""))
    await command(pilot, prompt)
    await wait_for(pilot, lambda: not app.screen.busy)
    return seed


async def open_explorer(pilot) -> None:
    await wait_for(pilot, lambda: screen_name(pilot.app) == "ExplorerScreen")
    await pilot.pause()


# -- start-up ---------------------------------------------------------------------------------------
def test_app_module_does_not_import_torch():
    code = "import sys, tinygpt_tui.tui.app; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.anyio
async def test_first_frame_comes_before_torch_is_imported(runs_home):
    """The first frame is fast because nothing on the way to it imports torch (it loads later, in a
    worker, when a run is opened); measured in a fresh interpreter, where nothing imported it yet."""
    code = ("import asyncio, sys\n"
            "from tinygpt_tui.tui.app import TinyGPTApp\n"
            "from tinygpt_tui.workspace import Workspace\n"
            "async def main():\n"
            "    app = TinyGPTApp(Workspace.from_env(sys.argv[1], sys.argv[2]))\n"
            "    async with app.run_test(size=(100, 30)) as pilot:\n"
            "        await pilot.pause()\n"
            "        print(type(app.screen).__name__, 'torch' in sys.modules)\n"
            "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code, str(runs_home / "models"), str(runs_home / "data")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["RunsScreen", "False"]


# -- runs screen --------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_runs_screen_lists_runs_with_their_numbers(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("RunTable")
        await wait_for(pilot, lambda: table.row_count == 2)
        first = [str(c) for c in table.get_row("fixture")]
        assert first[:5] == ["fixture", "char 29", "25.7k", "micro", "50/50"]
        assert first[5:7] == ["1.735", "2.503"]  # the best evaluation of its metrics.jsonl
        assert str(table.get_row("fresh")[-1]) == "new"
        assert not app.screen.query_one("#quick-start").display
        # enter on a run with weights opens the explorer
        await pilot.press("enter")
        await open_explorer(pilot)
        assert app.workbench.run_name == "fixture"
        await pilot.press("escape")
        assert screen_name(app) == "RunsScreen"
        # a run without weights opens its training screen
        await pilot.press("down", "e")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        assert app.screen.run == "fresh"


@pytest.mark.anyio
async def test_empty_models_folder_offers_the_quick_start(home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#quick-start").display)
        assert "Quick start" in str(app.screen.query_one("#quick-start-button").label)
        # the button does not take focus by itself: a stray Enter must not start a training
        assert app.focused is None or app.focused.id != "quick-start-button"


@pytest.mark.anyio
async def test_quick_start_walks_through_every_stage_then_opens_the_explorer(home, monkeypatch):
    """The quick start, shrunk to seconds: corpus, tokenizer, shards, training, explorer."""
    from tinygpt_tui.tui import run_dialogs as dialogs_module

    small = preset_config("micro", "quick", {"data": {"source": "storybook", "max_bytes": 60_000},
                                             "tokenizer": {"kind": "char"},
                                             "train": {"max_steps": 10, "eval_interval": 10, "log_interval": 2,
                                                       "warmup_steps": 1, "eval_iters": 1}})
    monkeypatch.setattr(dialogs_module, "quick_start_config", lambda: small)
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#quick-start").display)
        await pilot.pause()  # let the panel get its place on screen before clicking it
        await pilot.click("#quick-start-button")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        training = app.screen
        seen_stages: list[str] = []
        original = training.handle_event

        def spy(event, live=True):
            if isinstance(event, Stage):
                seen_stages.append(event.stage)
            original(event, live)

        training.handle_event = spy
        await wait_for(pilot, lambda: screen_name(app) == "ExplorerScreen", timeout=120)
        await open_explorer(pilot)
        assert seen_stages == ["corpus", "tokenizer", "shards", "model", "training"]
        assert training.val_loss and training.status == "done"
        assert app.workbench.run_name == "quick"


# -- commands ------------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_params_command_sets_and_rejects_values(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/params temperature=0.5 top_k=40")
        assert app.params.temperature == 0.5 and app.params.top_k == 40
        assert "temperature=0.5 top_k=40" in bar_text(app)
        await command(pilot, "/params temperature=hot")
        assert "'hot' is not a valid value for temperature" in bar_text(app)
        assert app.params.temperature == 0.5  # unchanged
        await command(pilot, "/params top_p=2")
        assert "top_p 2.0 must be in (0, 1]" in bar_text(app)
        await command(pilot, "/params colour=red")
        assert "'colour' is not a sampling setting" in bar_text(app)
        assert app.screen.query_one("#command-message").has_class("error")
        await command(pilot, "/seed 9")
        assert app.params.seed == 9


@pytest.mark.anyio
async def test_unknown_command_and_missing_run(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/frobnicate")
        assert "Unknown command '/frobnicate'" in bar_text(app)
        await command(pilot, "/load ghost")
        assert "There is no run named 'ghost' in models" in bar_text(app)
        await command(pilot, "/load fresh")
        assert "has no trained weights yet" in bar_text(app)
        await command(pilot, "/load")
        assert "runs: fixture, fresh" in bar_text(app)
        await command(pilot, "/tokens")
        assert "No model is loaded" in bar_text(app)
        await command(pilot, "/stop")
        assert "is not training" in bar_text(app) or "No run is selected" in bar_text(app)
        await command(pilot, "/train ghost")
        assert "There is no run named 'ghost'" in bar_text(app)
        await command(pilot, "/help params")
        assert "/params [NAME=VALUE ...]" in bar_text(app)
        await command(pilot, "plain words")
        assert "prompt" in bar_text(app)


@pytest.mark.anyio
async def test_help_screen_by_f1_and_command(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert screen_name(app) == "HelpScreen"
        await pilot.press("escape")
        assert screen_name(app) == "RunsScreen"
        await command(pilot, "/help")
        assert screen_name(app) == "HelpScreen"
        markdown = app.screen.commands_markdown
        for name in ("/params", "/tokens", "/train", "/stop", "/load RUN", "/new", "/clear", "/quit"):
            assert name in markdown
        await pilot.click("#help-close")
        assert screen_name(app) == "RunsScreen"


@pytest.mark.anyio
async def test_command_palette_runs_slash_commands(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: screen_name(app) == "CommandPalette")
        await pilot.press(*"/load", "space", *"fixture")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await open_explorer(pilot)
        assert app.workbench.run_name == "fixture"


@pytest.mark.anyio
async def test_quit_command_exits(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/quit")
        await pilot.pause()
    assert app.return_code == 0


# -- new run form ----------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_new_run_form_validates_as_you_type_and_creates(runs_home):
    from textual.widgets import Input

    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/new")
        assert screen_name(app) == "NewRunScreen"
        form = app.screen
        name = form.query_one("#field-name", Input)
        name.value = "fixture"
        await pilot.pause()
        assert "already exists" in str(form.query_one("#error-name").content)
        assert form.query_one("#create").disabled
        name.value = "bad name"
        await pilot.pause()
        assert "letters, digits" in str(form.query_one("#error-name").content)
        name.value = "mine"
        form.query_one("#field-vocab_size", Input).value = "100"
        await pilot.pause()
        assert str(form.query_one("#error-name").content) == ""
        assert "smaller than the 256-byte alphabet" in str(form.query_one("#error-vocab_size").content)
        form.query_one("#field-vocab_size", Input).value = "300"
        form.query_one("#field-steps", Input).value = "-3"
        await pilot.pause()
        assert "positive whole number" in str(form.query_one("#error-steps").content)
        form.query_one("#field-steps", Input).value = "20"
        await pilot.pause()
        assert not form.query_one("#create").disabled
        assert "20 steps" in str(form.query_one("#new-run-preview").content)
        await pilot.click("#create")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        assert app.screen.run == "mine" and app.screen.status == "idle"
        cfg = app.workbench.run_config("mine")
        assert cfg.tokenizer.vocab_size == 300 and cfg.train.max_steps == 20


@pytest.mark.anyio
async def test_new_run_form_starts_training_in_the_processes_it_names(runs_home):
    """The processes field reaches Workbench.start_training; extra special tokens reach the config."""
    from textual.widgets import Input, Select

    from tinygpt_tui.config import TinyGPTError

    app = new_app()
    started: list[tuple[str, int]] = []

    def start_training(run, extra_args=None, nproc=1):
        started.append((run, nproc))
        raise TinyGPTError("not in a test", "")

    async with app.run_test(size=SIZE) as pilot:
        app.workbench.start_training = start_training
        await command(pilot, "/new")
        form = app.screen
        form.query_one("#field-name", Input).value = "ddp"
        form.query_one("#field-nproc", Input).value = "3"
        await pilot.pause()
        assert "divide" in str(form.query_one("#error-nproc").content)  # tiny: 1 micro-batch per step
        form.query_one("#field-preset", Select).value = "slm-30m"  # 4 micro-batches per step
        form.query_one("#field-nproc", Input).value = "2"
        form.query_one("#field-special", Input).value = "<|im_start|> <|im_end|>, <|pad|>"
        await pilot.pause()
        assert str(form.query_one("#error-nproc").content) == ""
        await pilot.click("#create-train")
        await wait_for(pilot, lambda: started)
    assert started == [("ddp", 2)]
    specials = app.workbench.run_config("ddp").tokenizer.special_tokens
    assert specials == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]


@pytest.mark.anyio
async def test_creating_a_run_in_a_read_only_models_folder_is_a_sentence_not_an_exit(runs_home, monkeypatch):
    """Issue 15 item 5: an OSError while creating a run exited the app."""
    import errno

    from textual.widgets import Input

    from tinygpt_tui import runs

    def read_only(models, cfg, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(models / cfg.name))

    monkeypatch.setattr(runs, "create_run", read_only)
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/new")
        form = app.screen
        form.query_one("#field-name", Input).value = "mine"
        await pilot.pause()
        await pilot.click("#create")
        await wait_for(pilot, lambda: "read-only file system" in bar_text(app))
        assert "mine" in bar_text(app) and "Hint:" in bar_text(app)
        assert app.is_running and app.return_code is None
        # starting a run whose folder cannot be written says so too
        monkeypatch.setattr(app.workbench, "start_training",
                            lambda run, **kw: (_ for _ in ()).throw(OSError(errno.EACCES, "Permission denied", "x/metrics")))
        app.training.start("fixture")
        await pilot.pause()
        assert "Permission denied for x/metrics" in bar_text(app)
        assert app.is_running


@pytest.mark.anyio
async def test_new_run_form_cancel(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        await pilot.press("n")
        assert screen_name(app) == "NewRunScreen"
        await pilot.press("escape")
        assert screen_name(app) == "RunsScreen"
        assert app.workbench.run_names() == {"fixture", "fresh"}


# -- generation explorer -----------------------------------------------------------------------------
@pytest.mark.anyio
async def test_a_cropped_prompt_is_told_in_the_sample_header(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        block = app.workbench.config.model.block_size
        prompt = ("Once upon a time " * 10)[: block + 8]  # char tokenizer: one token per character
        await command(pilot, "/params seed=1 max_new_tokens=3 num_samples=1")
        await command(pilot, prompt)
        await wait_for(pilot, lambda: not explorer.busy)
        label = str(explorer.query_one(".sample-label").render())
        from tinygpt_tui.generate import slide_keep

        assert f"prompt cropped to its last {slide_keep(block)} tokens (context is {block})" in label


@pytest.mark.anyio
async def test_generation_streams_seeded_tokens_and_selects_them(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        seed = await generate_seeded(pilot, "Once upon", 25, at_least=5, samples=2)
        views = list(explorer.query("TokenView.sample-view"))
        assert len(views) == 2
        expected = list(app.workbench.generate("Once upon", SamplingConfig(seed=seed, max_new_tokens=25, num_samples=2)))
        assert [r.id for r in views[0].records] == [r.id for r in expected if r.sample == 0]
        assert [r.id for r in views[1].records] == [r.id for r in expected if r.sample == 1]
        assert "tokens/s" in bar_text(app)
        # the prompt's own tokenization
        table = explorer.query_one("BreakdownTable")
        assert table.row_count == len("Once upon")
        # keyboard selection
        await pilot.press("tab")
        assert app.focused is views[0]
        await pilot.press("right", "right")
        detail = explorer.query_one("TokenDetail")
        assert detail.record is views[0].records[1]
        await pilot.press("left")
        assert detail.record is views[0].records[0]
        await pilot.press("end")
        assert detail.record is views[0].records[-1]
        assert explorer.query_one("#detail-title").content == f"token {len(views[0].records)} of {len(views[0].records)}"


@pytest.mark.anyio
async def test_attention_tab_follows_the_selected_token(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await command(pilot, "/params seed=4 max_new_tokens=12 num_samples=1")
        await command(pilot, "Once upon")
        await wait_for(pilot, lambda: not explorer.busy)
        tabs = explorer.query_one("#explorer-tabs")
        assert not explorer.query("AttentionView")  # the tab appears on first use
        await pilot.press("tab", "right", "right", "right")
        tokens = explorer.query_one("TokenView.sample-view")
        record = tokens.records[2]
        await pilot.press("f5")
        view = explorer.query_one("AttentionView")
        await wait_for(pilot, lambda: view.maps is not None)
        assert tabs.active == "attention-pane" and app.focused is view
        cfg = app.workbench.config.model
        # the sequence ends at the selected token: prompt, then the first three generated tokens
        assert len(view.maps.ids) == len("Once upon") + 3 and view.token is record
        shown = str(view.render())
        assert f"token #3 [{visible(record.display)}]" in shown
        assert f"mean of {cfg.n_head}" in shown
        for layer in range(1, cfg.n_layer + 1):
            assert f"layer {layer} " in shown
        assert shown.count("itself") + shown.count(" back ") == cfg.n_layer * 3  # top keys per layer
        assert "█" in shown or "▏" in shown
        # one head at a time, then the next token from inside the view
        await pilot.press("right_square_bracket")
        assert view.head == 0 and f"head 1 of {cfg.n_head}" in str(view.render())
        await pilot.press("right")
        await wait_for(pilot, lambda: view.maps is not None and view.token is tokens.records[3])
        assert len(view.maps.ids) == len("Once upon") + 4
        # F5 again goes back to the samples, focus on the tokens
        await pilot.press("f5")
        assert tabs.active == "samples-pane" and app.focused is tokens


@pytest.mark.anyio
async def test_lens_and_cuts_tabs_follow_the_selected_token(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "Once upon", 12, at_least=5)
        generated_with = app.params.top_k
        await command(pilot, "/params temperature=0.9 top_k=5 top_p=0.8")  # not the generation's settings
        tabs = explorer.query_one("#explorer-tabs")
        assert not explorer.query("LensView") and not explorer.query("CutsView")  # tabs appear on first use
        await pilot.press("tab", "right", "right", "right")
        tokens = explorer.query_one("TokenView.sample-view")
        workbench = app.workbench
        ids = [r.id for r in tokens.records]

        def context(i):
            return workbench.token_context("Once upon", ids, i)

        await pilot.press("f7")
        lens = explorer.query_one("LensView")
        await wait_for(pilot, lambda: lens.result is not None)
        assert tabs.active == "lens-pane" and app.focused is lens
        record = tokens.records[2]
        assert lens.result.layers[-1].prob == pytest.approx(record.prob, rel=1e-4)
        assert lens.result.layers[-1].rank == record.rank
        expected = workbench.logit_lens(context(2), record.id)
        assert [layer.prob for layer in lens.result.layers] == pytest.approx([layer.prob for layer in expected.layers])
        shown = str(lens.render())
        assert f"lens of token #3 [{visible(record.display)}]" in shown and "F7 back" in shown
        for name in ["emb"] + [f"L{i}" for i in range(1, app.workbench.config.model.n_layer + 1)]:
            assert f"\n{name:>4} " in shown, name
        # the next token from inside the view
        await pilot.press("right")
        await wait_for(pilot, lambda: lens.result is not None and lens.request.record is tokens.records[3])
        assert lens.result.layers[-1].prob == pytest.approx(tokens.records[3].prob, rel=1e-4)
        # F8: the cuts of the same token, with the settings the sample was generated with
        await pilot.press("f8")
        cuts = explorer.query_one("CutsView")
        await wait_for(pilot, lambda: cuts.result is not None)
        assert tabs.active == "cuts-pane" and app.focused is cuts
        record = tokens.records[3]
        stages = cuts.result.stages
        assert stages[0].prob == pytest.approx(record.prob, rel=1e-4)
        assert stages[-1].prob == pytest.approx(record.prob_sampled, rel=1e-4)
        assert cuts.result.params.top_k == generated_with != 5  # not the /params set later
        shown = str(cuts.render())
        assert f"cuts at token #4 [{visible(record.display)}]" in shown and "F8 back" in shown
        assert all(f"\n{name}" in shown for name in ("raw", "temperature", "top-k", "top-p"))
        # F8 again: back to the tokens; F6 walks through the new tabs too
        await pilot.press("f8")
        assert tabs.active == "samples-pane" and app.focused is tokens
        # /lens N selects token N (from 1) of the first sample and opens its lens
        await command(pilot, "/lens 2")
        await wait_for(pilot, lambda: tabs.active == "lens-pane" and lens.result is not None
                       and lens.request.record is tokens.records[1])
        await command(pilot, "/cuts 99")
        assert "There is no token 99" in bar_text(app)


@pytest.mark.anyio
async def test_a_scored_token_has_a_lens_but_no_cuts(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await pilot.press("f2")
        await command(pilot, "The fox ran.")
        view = explorer.query_one("#score-view")
        await wait_for(pilot, lambda: view.records)
        view.focus()
        await pilot.press("right", "right")
        await pilot.press("f7")
        lens = explorer.query_one("LensView")
        await wait_for(pilot, lambda: lens.result is not None)
        assert lens.result.layers[-1].prob == pytest.approx(view.records[1].prob, rel=1e-4)
        await pilot.press("f8")
        cuts = explorer.query_one("CutsView")
        await wait_for(pilot, lambda: "scored text was not sampled" in str(cuts.render()))
        assert cuts.result is None


@pytest.mark.anyio
async def test_clicking_a_token_selects_it(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        # the first three tokens stay on the first line
        await generate_seeded(pilot, "Once", 10, accept=lambda recs: "\n" not in "".join(r.text for r in recs[:3]))
        view = explorer.query_one("#sample-0")
        # "Once" (4 cells) then "[x]" per token: the 2nd token's text sits at x = 1 (padding) + 4 + 3 + 1
        await pilot.click(view, offset=(1 + 4 + 3 + 1, 0))
        assert explorer.query_one("TokenDetail").record is view.records[1]
        assert app.focused is view


@pytest.mark.anyio
async def test_view_modes_cycle_through_clean_boundaries_pieces_hex(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "The fox", 8)
        view = explorer.query_one("#sample-0")
        seen = {}
        for _ in range(4):
            seen[view.mode] = view.render_text().plain
            await pilot.press("f3")
        assert list(seen) == ["boundaries", "pieces", "hex", "clean"]
        first = view.records[0]
        assert f"[{first.hex}]" in seen["hex"]
        assert seen["clean"] == "The fox" + "".join(r.text for r in view.records)
        assert seen["boundaries"].startswith("The fox[")


@pytest.mark.anyio
async def test_score_mode_colours_a_text_by_surprisal(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await pilot.press("f2")
        assert explorer.score_mode
        await command(pilot, "The fox ran.")
        await wait_for(pilot, lambda: explorer.query_one("#score-view").records)
        score = app.workbench.score("The fox ran.")
        records = explorer.query_one("#score-view").records
        assert [r.id for r in records] == [r.id for r in score.records]
        assert f"{score.bits_per_byte:.3f} bits per byte" in str(explorer.query_one("#score-summary").content)


@pytest.mark.anyio
async def test_bad_prompt_and_clear(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await command(pilot, "snow ☃")
        await wait_for(pilot, lambda: not explorer.busy)
        assert "cannot represent" in bar_text(app)
        await command(pilot, "/params seed=1 max_new_tokens=5")
        await command(pilot, "fox")
        await wait_for(pilot, lambda: not explorer.busy)
        assert explorer.query("TokenView.sample-view")
        await command(pilot, "/clear")
        await pilot.pause()
        assert not explorer.query("TokenView.sample-view")


# -- vocabulary explorer -----------------------------------------------------------------------------
@pytest.mark.anyio
async def test_tokens_screen_shows_stats_and_filters(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await command(pilot, "/tokens")
        assert screen_name(app) == "VocabScreen"
        vocab = app.screen
        table = vocab.query_one("#vocab-table")
        await wait_for(pilot, lambda: table.row_count == app.workbench.tokenizer.vocab_size)
        assert len(vocab.rows) == app.workbench.tokenizer.vocab_size
        await pilot.press(*"Ġ")
        await pilot.pause()
        assert table.row_count == 1 and vocab.shown[0][1] == "Ġ"
        vocab.query_one("#vocab-search").value = "#3"
        await pilot.pause()
        assert [r[0] for r in vocab.shown] == [3]
        await pilot.press("escape")
        assert screen_name(app) == "ExplorerScreen"


@pytest.mark.anyio
async def test_tokens_screen_says_an_error_with_its_hint(runs_home, monkeypatch):
    from tinygpt_tui.config import TinyGPTError

    app = new_app(run="fixture")

    def broken():
        raise TinyGPTError("The shards cannot be read.", "prepare the data again.")

    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        monkeypatch.setattr(app.workbench, "vocab_stats", broken)
        await command(pilot, "/tokens")
        stats = app.screen.query_one("#vocab-stats")
        await wait_for(pilot, lambda: "cannot be read" in str(stats.content))
        assert "The shards cannot be read. Hint: prepare the data again." in str(stats.content)


# -- training screen ---------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_training_screen_shows_history_of_a_finished_run(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        await pilot.press("t")  # the training screen of the selected run, without starting it
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        screen = app.screen
        assert screen.status == "done" and not app.workbench.active_training()  # as its history ends
        await pilot.press("x")  # stop: nothing to stop, says so
        assert "not training" in bar_text(app)
        await pilot.pause(0.3)
        assert sorted(screen.train_loss) == list(range(5, 51, 5))
        assert sorted(screen.val_loss) == [25, 50]
        assert screen.state.best_val_loss == min(screen.val_loss.values())
        assert 50 in dict(screen.state.samples)
        chart = screen.query_one("LossChart")
        assert chart.train == screen.train_loss and chart.val == screen.val_loss
        assert not screen.query_one("#train-story-scroll").display  # trained before stories existed


@pytest.mark.slow
@pytest.mark.anyio
async def test_train_stop_resume_from_the_training_screen(home):
    corpus = home / "corpus.txt"
    corpus.write_text((TEXT + "<|endoftext|>\n") * 40, encoding="utf-8")
    from tinygpt_tui import runs

    runs.create_run(home / "models", preset_config("micro", "live", {
        "data": {"source": str(corpus)}, "tokenizer": {"kind": "char"},
        "train": {"max_steps": 2000, "eval_interval": 4, "log_interval": 1, "warmup_steps": 1, "eval_iters": 1}}))
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "/train live")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.train_loss) >= 5, timeout=90)
        assert screen.status == "training"
        await wait_for(pilot, lambda: screen.query_one("#train-progress").progress >= 1)  # next redraw tick
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.status == "done", timeout=60)
        assert screen.state.reason == "interrupted"
        stopped_at = screen.state.step
        first_pid = app.workbench.training["live"].proc.pid
        await pilot.press("s")
        await wait_for(pilot, lambda: app.workbench.training["live"].proc.pid != first_pid)
        await wait_for(pilot, lambda: screen.state.resumed is True, timeout=60)
        assert screen.state.session_step == stopped_at  # the step the new session started from
        # quitting while training asks first; "stop" stops gracefully, then the app exits
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: screen_name(app) == "ChoiceScreen")
        await pilot.click("#choice-stop")
        await wait_for(pilot, lambda: not app.workbench.active_training(), timeout=60)
    assert not runs.is_training(home / "models" / "live")


# -- review fixes: streaming cost, focus, display forms, --run, messages -------------------------------
@pytest.mark.anyio
async def test_streamed_tokens_are_drawn_incrementally_like_a_full_redraw(runs_home):
    import dataclasses

    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        pool = list(app.workbench.generate("Once upon", SamplingConfig(seed=1, max_new_tokens=40, num_samples=3)))
        records = [dataclasses.replace(r, sample=0, index=i, finish=None) for i, r in enumerate(pool)]
        await command(pilot, "/params seed=1 max_new_tokens=1 num_samples=1")
        await command(pilot, "Once upon")
        await wait_for(pilot, lambda: not explorer.busy)
        view = explorer.query_one("#sample-0")
        view.set_records([], "Once upon")
        await pilot.pause()
        for start in range(0, len(records), 7):  # batches, as the generation worker posts them
            view.add_records(records[start : start + 7])
        view.flush()
        await pilot.pause()
        assert view._cache[1].plain == view.render_text().plain
        assert str(view.render()) == view.render_text().plain
        # a selection redraws everything; later batches append to that drawing
        view.select(3)
        view.add_records(records[:5])
        view.flush()
        assert view._cache[1].plain == view.render_text().plain
        assert view._cache[1].spans == view.render_text().spans


@pytest.mark.anyio
async def test_explorer_focus_slash_f2_and_escape(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        bar = explorer.query_one("CommandBar")
        await generate_seeded(pilot, "The fox", 8)
        await pilot.press("tab")
        assert app.focused is explorer.query_one("#sample-0")
        await pilot.press("slash")
        assert app.focused is bar.input and bar.input.value == "/"
        bar.input.value = ""
        await pilot.press("tab")
        assert app.focused is explorer.query_one("#sample-0")
        await pilot.press("f2")
        assert explorer.score_mode and app.focused is bar.input
        await pilot.press("f2")
        await pilot.press("tab")
        await pilot.press("escape")  # from the tokens: back to the prompt
        assert screen_name(app) == "ExplorerScreen" and app.focused is bar.input
        await pilot.press("escape")  # from the prompt: back to the runs
        assert screen_name(app) == "RunsScreen"


def test_prompt_breakdown_shows_partial_utf8_tokens_as_hex():
    from tinygpt_tui.tui.widgets.breakdown_table import row_display, visualize

    rows = [{"id": 1, "piece": "a", "hex": "61", "text": "a"},
            {"id": 2, "piece": "x", "hex": "c3", "text": "\ufffd"},
            {"id": 3, "piece": "y", "hex": "bc", "text": "\ufffd"}]
    texts = [row_display(r) for r in rows]
    assert texts == ["a", "<c3>", "<bc>"]
    assert "\ufffd" not in visualize(texts, 1).plain
    assert row_display({"id": 4, "piece": "ü", "hex": "c3 bc", "text": "ü"}) == "ü"


def test_stop_message_names_the_tui_way_to_resume():
    from tinygpt_tui.tui.screens.training import tui_message

    done = {"event": "done", "step": 5, "reason": "interrupted", "resumable": True, "stage": "training",
            "path": "m"}
    assert tui_message(fold([done])) == "stopped at step 5; checkpoint saved in m. Press s or /train to resume."
    early = {**done, "step": 0, "stage": "shards", "began": False}
    assert tui_message(fold([early])) == "stopped before training began; press s or /train to continue."


@pytest.mark.anyio
async def test_run_option_opens_the_training_screen_of_a_run_in_training(runs_home, monkeypatch):
    app = new_app(run="fixture")
    monkeypatch.setattr(app.workbench, "is_training", lambda run: run == "fixture")
    attached = []
    monkeypatch.setattr(app.training, "attach", lambda run: attached.append(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        assert attached == ["fixture"]


@pytest.mark.anyio
async def test_scoring_clears_the_detail_of_a_generated_token(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "The fox", 8)
        await pilot.press("tab", "right")
        detail = explorer.query_one("TokenDetail")
        assert detail.record is not None
        await pilot.press("f2")
        await command(pilot, "The fox ran")
        await wait_for(pilot, lambda: bool(explorer.query_one("#score-view").records))
        assert detail.record is None
        assert explorer.query_one("#detail-title").content == "token"


class _FakeTraining:
    """Stands in for a TrainingProcess: ``events`` yields what is queued, then waits ``timeout``."""

    def __init__(self, events: list, finished: bool) -> None:
        self.queued = list(events)
        self.finished = finished
        self.returncode = 0 if finished else None
        self.reads = 0

    def events(self, timeout: float | None = None):
        self.reads += 1
        queued, self.queued = self.queued, []
        yield from queued
        if not self.finished:
            time.sleep(timeout or 0)


@pytest.mark.anyio
async def test_training_pump_posts_events_then_the_end(runs_home):
    app = new_app()
    source = _FakeTraining([Step(step=51, loss=2.0, lr=1e-3, tokens_per_s=1.0, mfu=None, elapsed_s=1.0, eta_s=None,
                                 grad_norm=None, tokens=51, threads=1)], finished=True)
    async with app.run_test(size=SIZE) as pilot:
        app.show_training("fixture")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        screen = app.screen
        app.training.watch("fixture", source)
        assert "fixture" in app.training
        await wait_for(pilot, lambda: "fixture" not in app.training)
        assert screen.state.step == 51 and screen.train_loss[51] == 2.0


@pytest.mark.anyio
async def test_an_unreadable_training_event_is_one_sentence_not_a_crash(runs_home):
    from tinygpt_tui.events import read

    app = new_app()
    source = _FakeTraining([read({"event": "step", "step": 52})], finished=True)
    async with app.run_test(size=SIZE) as pilot:
        app.show_training("fixture")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        screen = app.screen
        app.training.watch("fixture", source)
        await wait_for(pilot, lambda: "fixture" not in app.training)
        await wait_for(pilot, lambda: "lacks its 'loss' field" in bar_text(app))
        assert screen.state.unreadable == 1 and screen.state.step == 50  # the rest of the state stands


@pytest.mark.anyio
async def test_training_pump_stops_reading_when_the_app_exits(runs_home):
    """A run left training must not keep the app from exiting: its pump worker is cancelled."""
    app = new_app()
    source = _FakeTraining([], finished=False)
    async with app.run_test(size=SIZE) as pilot:
        app.training.watch("fixture", source)
        await wait_for(pilot, lambda: source.reads > 1)
        assert any(w.name == "watch-fixture" for w in app.workers)
    time.sleep(0.6)
    reads = source.reads
    time.sleep(0.6)
    assert source.reads == reads


@pytest.mark.anyio
async def test_markup_typed_into_the_app_is_shown_as_text(runs_home):
    """Issue 15 item 1: [/INST] in the vocabulary search or [/] in a new-run field made the app exit."""
    from textual.widgets import Input

    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await command(pilot, "/tokens")
        vocab = app.screen
        table = vocab.query_one("#vocab-table")
        await wait_for(pilot, lambda: table.row_count == app.workbench.tokenizer.vocab_size)
        vocab.query_one("#vocab-search", Input).value = "[/INST]"
        await pilot.pause()
        assert "match '[/INST]'" in str(vocab.query_one("#vocab-count").content)
        await pilot.press("escape")
        await command(pilot, "/new")
        form = app.screen
        form.query_one("#field-name", Input).value = "[/]"
        form.query_one("#field-source", Input).value = "[/]x.txt"
        form.query_one("#field-steps", Input).value = "[/]"
        await pilot.pause()
        assert "'[/]' is not a positive whole number" in str(form.query_one("#error-steps").content)
        app.notify("a notification with [/INST] in it")
        app.say("a message with [/] in it")
        await pilot.pause()
        assert app.is_running and app.return_code is None


# -- training that tells the truth -------------------------------------------------------------------
def _rewrite_done(runs_home, **fields) -> None:
    import json

    path = runs_home / "models" / "fixture" / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    done = json.loads(lines[-1])
    assert done["event"] == "done"
    done.update(fields)
    path.write_text("\n".join([*lines[:-1], json.dumps(done)]) + "\n", encoding="utf-8")


@pytest.mark.anyio
async def test_a_finished_run_shows_its_result_and_no_stale_training(runs_home):
    """After training ended: the stage row has no ▶training, the bar is full, the header gives the
    result (best val bits/byte, tokens, time) and says plainly that the run is under-trained, and c
    continues it (its budget extended, training resumed)."""
    _rewrite_done(runs_home, best_val_bpb=2.4123, tokens=12800, elapsed_s=10.0, undertrained=True,
                  undertrained_why="the validation loss was still falling fast: 2.000 at step 25, 1.600 at step 50")
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        await pilot.press("t")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        screen = app.screen
        await pilot.pause(0.3)
        header = str(screen.query_one("#train-header").render())
        stages = str(screen.query_one("#train-stage").render())
        assert "▶" not in stages and "✓training" in stages
        bar = screen.query_one("#train-progress")
        assert bar.progress == bar.total
        assert "under-trained" in header and "still falling fast" in header and "Press c" in header
        assert "2.412 bits/byte" in header and "12.8k tokens" in header
        started: list[str] = []
        app.training.start = lambda run, nproc=1: started.append(run)
        await pilot.press("c")
        await pilot.pause()
        assert started == ["fixture"] and "Continuing fixture for 50 more steps" in bar_text(app)
        assert app.workbench.run_config("fixture").train.max_steps == 100


def test_the_quick_start_lands_on_its_result():
    """Where the quick start lands (the explorer) the result is said, and an under-trained run says so."""
    from tinygpt_tui.events import Done
    from tinygpt_tui.tui.app import landing_summary

    done = Done(step=360, reason="time", best_val_bpb=1.45, tokens=1_474_560, elapsed_s=140.0,
                undertrained=True, undertrained_why="it ran 360 of the 1,000 steps planned in its 140 s budget")
    line = landing_summary("quick", done)
    assert "best val 1.450 bits/byte" in line and "1.5M tokens" in line and "2m20s" in line
    assert "Under-trained: it ran 360 of the 1,000 steps" in line and "/continue" in line
    fine = landing_summary("quick", Done(step=1000, reason="time", best_val_bpb=0.28))
    assert "Under-trained" not in fine


@pytest.mark.anyio
async def test_speed_says_warming_up_until_it_means_something(runs_home):
    from tinygpt_tui.events import Start

    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        app.show_training("fresh")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        await pilot.pause(0.2)
        screen = app.screen
        screen.handle_event(Start(step=0, max_steps=100, max_time=None, params=1000, tokens_per_step=64,
                                  device="cpu", dtype="float32", resumed=False, compile=False, threads=1,
                                  peak_flops=1e9, elapsed_s=0.0), live=False)

        def step(n):
            return Step(step=n, loss=3.0, lr=1e-3, tokens_per_s=453.0, mfu=0.01, elapsed_s=n * 1.0, eta_s=1680.0,
                        grad_norm=1.0, tokens=64 * n, threads=1)
        screen.handle_event(step(5), live=False)
        screen._flush()
        numbers = plain(screen.query_one("#train-numbers"))
        assert "warming up" in numbers and "453" not in numbers
        screen.handle_event(step(10), live=False)
        screen._flush()
        assert "453" in plain(screen.query_one("#train-numbers"))


def plain(widget) -> str:
    """What a Static shows, as plain text (a Rich renderable printed at 120 columns)."""
    import io

    from rich.console import Console

    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


def test_the_validation_curve_is_points_at_evaluations_from_step_zero():
    """One point per evaluation (step 0 too), nothing interpolated between them."""
    from tinygpt_tui.tui.widgets.loss_chart import LossChart

    chart = LossChart()
    calls = []
    chart.plt.scatter = lambda xs, ys, **kw: calls.append(("scatter", list(xs), kw.get("label")))
    chart.plt.plot = lambda xs, ys, **kw: calls.append(("plot", list(xs), kw.get("label")))
    chart.refresh = lambda *a, **k: None
    chart.set_series({5: 3.0, 10: 2.5}, {0: 4.2, 10: 2.6})
    assert ("scatter", [0, 10], "val") in calls and not any(c[2] == "val" and c[0] == "plot" for c in calls)


# -- keys that do what they say ------------------------------------------------------------------------
@pytest.mark.anyio
async def test_slash_on_the_first_screen_is_kept_and_enter_never_starts_the_quick_start(home):
    from tinygpt_tui.tui.screens.help import HelpScreen

    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#quick-start").display)
        await pilot.pause()
        assert app.focused is None or app.focused.id != "quick-start-button"
        await pilot.press("enter")  # a stray Enter: nothing starts
        await pilot.pause()
        assert screen_name(app) == "RunsScreen" and not app.workbench.training
        bar = app.screen.query_one("CommandBar")
        await pilot.press("slash", "h", "e", "l", "p")
        assert bar.input.value == "/help"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert not app.workbench.training and not (home / "models" / "quick").exists()


@pytest.mark.anyio
async def test_escape_leaves_the_bar_and_e_t_on_an_empty_list_say_so(home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#quick-start").display)
        bar = app.screen.query_one("CommandBar")
        await pilot.press("e")
        assert "no runs yet" in bar_text(app).lower()
        await pilot.press("t")
        assert "no runs yet" in bar_text(app).lower()
        await pilot.press("slash")
        assert app.focused is bar.input
        await pilot.press("escape")
        assert app.focused is not bar.input
        await pilot.press("n")  # a key again, not a letter typed into the bar
        await wait_for(pilot, lambda: screen_name(app) == "NewRunScreen")


@pytest.mark.anyio
async def test_the_detail_panel_follows_its_tab_and_numbers_from_one(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "The fox", 6, samples=2)
        title = explorer.query_one("#detail-title")
        detail = explorer.query_one("TokenDetail")
        await pilot.press("tab", "right", "right", "right")
        assert str(title.content).startswith("token 3 of")
        assert "#3" in plain(detail)  # one numbering: the third token is #3 and "token 3 of"
        await pilot.press("f6")  # another tab: the panel does not keep this one's token
        assert detail.record is None and title.content == "token"
        await pilot.press("f6", "f6")  # back to the samples
        first = explorer.query_one("#sample-0")
        first.focus()
        await pilot.press("end", "right")  # past the end of sample 1: sample 2's first token
        second = explorer.query_one("#sample-1")
        assert app.focused is second and second.selected == 0 and first.selected == -1
        await pilot.press("up")  # ↑ jumps to the previous sample
        assert app.focused is first
        await pilot.press("m")  # the most surprising token
        worst = max(range(len(first.records)), key=lambda i: first.records[i].surprisal_bits)
        assert first.selected == worst
        await command(pilot, "/clear")
        assert title.content == "token" and detail.record is None


@pytest.mark.anyio
async def test_score_mode_has_its_own_placeholder_and_hint(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        bar = app.screen.query_one("CommandBar")
        await pilot.press("f2")
        assert "score" in bar.input.placeholder.lower() and "F2 score mode" not in bar.input.placeholder
        assert "press F2 for score mode" not in plain(app.screen.query_one("#score-summary")).replace("\n", " ")
        await pilot.press("f2")
        assert "F2 score mode" in bar.input.placeholder


@pytest.mark.anyio
async def test_sampling_parameters_are_kept_per_run(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await command(pilot, "/params temperature=0.3 top_k=7")
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        assert (app.params.temperature, app.params.top_k) == (0.3, 7)


# -- small screens -------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_at_80x24_the_training_screen_shows_its_live_figures_and_help(runs_home):
    """At 80x24 tokens/s, MFU, ETA and elapsed are on screen, the bar says 100%, F1 Help is in the footer."""
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        await pilot.press("t")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        await pilot.pause(0.3)
        screen = app.screen
        numbers = screen.query_one("#train-numbers")
        assert numbers.region.bottom <= screen.query_one("#train-main").region.bottom
        text = plain(numbers)
        for label in ("tokens/s", "MFU", "ETA", "elapsed"):
            assert label in text
        percentage = screen.query_one("#train-progress").query_one("PercentageStatus")
        assert percentage.region.width >= 4 and str(percentage.render()).strip() == "100%"
        keys = [k for k in screen.query("FooterKey") if k.region.right <= 80 and k.region.width]
        assert any(k.action in ("app.help", "help") for k in keys)
        await pilot.press("f1")
        assert screen_name(app) == "HelpScreen"


@pytest.mark.anyio
async def test_the_training_screen_focuses_nothing_and_stays_at_its_top(runs_home):
    """Keys are commands on the training screen, so nothing takes focus by itself; a scroll panel that
    did (the app's default auto-focus) scrolled a short screen down to centre it a moment later."""
    from fixtures_runs import make_run

    make_run(runs_home / "models", "storied", stories=True)
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 3)
        app.show_training("storied")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen"
                       and any(w.display for w in app.screen.query("#train-story-scroll")))
        await pilot.pause(1.0)  # the scroll came after a refresh, and animated
        assert app.screen.focused is None
        assert app.screen.max_scroll_y > 0 and app.screen.scroll_y == 0


@pytest.mark.anyio
async def test_at_80x24_the_vocabulary_keeps_its_hex_and_the_explorer_header_three_lines(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_explorer(pilot)
        assert app.screen.query_one("#explorer-status").region.height <= 3
        await command(pilot, "/tokens")
        table = app.screen.query_one("#vocab-table")
        await wait_for(pilot, lambda: table.row_count > 0)
        await pilot.pause()
        hex_column = list(table.columns).index("hex")
        before = sum(c.get_render_width(table) for c in list(table.columns.values())[:hex_column])
        assert before + len("3c 7c 65") <= table.region.width  # hex shows (a long special's runs on)


# -- under-trained tokens and two runs on one text (issue 10) ---------------------------------------
@pytest.mark.anyio
async def test_the_vocabulary_sorts_by_the_under_trained_score_and_explains_it(runs_home):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await command(pilot, "/tokens")
        vocab = app.screen
        table = vocab.query_one("#vocab-table")
        await wait_for(pilot, lambda: table.row_count == app.workbench.tokenizer.vocab_size)
        assert [str(k.value) for k in table.columns][-3:] == ["under", "emb", "head"]
        assert "geometric mean" in str(vocab.query_one("#vocab-under-help").content)
        vocab.sort_by("under")
        await pilot.pause()
        expected = app.workbench.under_trained().ranking().tolist()
        assert [r[0] for r in vocab.shown] == expected  # the most under-trained first, ties by id
        assert table.get_row_at(0)[5] == f"{app.workbench.under_trained().score[expected[0]]:.2f}"
        vocab.sort_by("emb")
        await pilot.pause()
        ratios = [r[6] for r in vocab.shown]
        assert ratios == sorted(ratios)  # the shortest embedding rows (least trained) first


@pytest.mark.anyio
async def test_versus_opens_a_view_of_both_runs_with_the_largest_disagreement_first(runs_home):
    from fixtures_runs import make_run

    make_run(runs_home / "models", "other", seed=1)
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await command(pilot, "/versus nope The fox.")
        assert "no run named 'nope'" in bar_text(app) and screen_name(app) == "ExplorerScreen"
        # the fixture's character tokenizer has no '[': one sentence, the text quoted as text
        await command(pilot, "/versus other The fox met a [bold]bear[/bold].")
        assert screen_name(app) == "VersusScreen"
        view = app.screen
        await wait_for(pilot, lambda: "cannot represent" in str(view.query_one("#versus-summary").content))
        assert "'['" in str(view.query_one("#versus-summary").content)
        await pilot.press("escape")
        await command(pilot, "/versus other The fox met a bear.")
        assert screen_name(app) == "VersusScreen"
        view = app.screen
        await wait_for(pilot, lambda: view.result is not None)
        await pilot.pause()
        table = view.query_one("#versus-table")
        assert table.row_count == len("The fox met a bear.")
        diffs = [abs(r.diff) for r in view.result.by_disagreement()]
        assert float(str(table.get_row_at(0)[4])) == pytest.approx(view.result.by_disagreement()[0].diff, abs=0.006)
        assert diffs[0] == max(diffs) > 0
        assert "The fox met a bear." in str(view.query_one("#versus-a").content)
        await pilot.press("escape")
        assert screen_name(app) == "ExplorerScreen"


# -- the validation story ------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_the_training_screen_colours_the_story_and_marks_what_fell_most(runs_home):
    from fixtures_runs import STORY, make_run, story_event

    from tinygpt_tui.events import decode
    from tinygpt_tui.present import surprisal_band

    make_run(runs_home / "models", "storied", stories=True)
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 3)
        app.show_training("storied")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen" and app.screen.run == "storied")
        screen = app.screen
        # the screen may still be composing: a query that finds nothing yet is "not yet"
        await wait_for(pilot, lambda: any(v.story.plain for v in screen.query("StoryView")))
        assert screen.query_one("#train-story-scroll").display
        view = screen.query_one("StoryView")
        shown = view.story
        assert STORY in shown.plain and "at step 50" in shown.plain and "fell most since step 25" in shown.plain
        # each character in its band's colour; the five largest falls (25 -> 50) underlined, no other
        latest, previous = story_event(50, 0)["bits"], story_event(25, 0)["bits"]
        falls = sorted(range(len(STORY)), key=lambda i: previous[i] - latest[i], reverse=True)[:5]
        start = shown.plain.index(STORY)
        styles = {}
        for span in shown.spans:
            for i in range(max(span.start, start), min(span.end, start + len(STORY))):
                styles[i - start] = str(span.style)
        for i, bits in enumerate(latest):
            assert surprisal_band(bits).colour in styles[i]
            assert ("underline" in styles[i]) == (i in falls), i

        # a live evaluation moves the story on: step 50 becomes the previous one
        screen.handle_event(decode(story_event(75, 0)))
        await wait_for(pilot, lambda: "at step 75" in view.story.plain)
        assert "fell most since step 50" in view.story.plain


@pytest.mark.anyio
@pytest.mark.parametrize(("size", "story", "rate_shown"), [((120, 40), False, True), ((120, 34), True, False),
                                                           ((120, 60), True, True)])
async def test_the_loss_chart_keeps_its_rows_before_the_learning_rate_chart_gets_any(runs_home, size, story,
                                                                                     rate_shown):
    """A story panel takes its rows from the learning-rate chart, never from the loss chart (it was
    squeezed to a two-row plot at 130x38 under a long story)."""
    from fixtures_runs import make_run

    from tinygpt_tui.tui.screens.training import LOSS_CHART_ROWS, RATE_CHART_ROWS

    make_run(runs_home / "models", "storied", stories=story)
    app = new_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 3)
        app.show_training("storied")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen" and app.screen.run == "storied")
        screen = app.screen
        # the screen may still be composing: a query that finds nothing yet is "not yet"
        await wait_for(pilot, lambda: any(v.display == story for v in screen.query("#train-story-scroll"))
                       and any(c.lr for c in screen.query("RateChart")))
        await pilot.pause(0.5)  # the charts fitted after the story panel took its rows
        rate = screen.query_one("RateChart")
        assert rate.display == rate_shown
        assert screen.query_one("LossChart").size.height >= LOSS_CHART_ROWS
        assert rate.display == (screen.query_one("#train-charts").size.height >= LOSS_CHART_ROWS + RATE_CHART_ROWS)


@pytest.mark.anyio
async def test_fitting_the_charts_after_the_screen_was_taken_down_does_nothing(runs_home):
    """The charts are fitted after a refresh; by then the screen may be gone (the quick start moves on to
    the explorer): the late call finds no widgets and must not raise (it failed CI with NoMatches)."""
    from fixtures_runs import make_run

    make_run(runs_home / "models", "storied", stories=True)
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 3)
        app.show_training("storied")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen" and bool(app.screen.query("#train-charts")))
        screen = app.screen
        await screen.query_one("#train-charts").remove()  # as taking the screen down removes it
        screen._fit_charts()


@pytest.mark.anyio
async def test_the_loss_chart_cycles_its_x_axis_and_toggles_a_log_scale(runs_home):
    from fixtures_runs import metric_events

    steps = {e["step"]: e for e in metric_events(50) if e["event"] == "step"}
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("RunTable").row_count == 2)
        await pilot.press("t")
        await wait_for(pilot, lambda: screen_name(app) == "TrainingScreen")
        screen = app.screen
        chart, rates = screen.query_one("LossChart"), screen.query_one("RateChart")
        await wait_for(pilot, lambda: rates.lr)
        assert rates.lr == {s: e["lr"] for s, e in steps.items()}  # the learning rate on its own chart
        assert chart.axis == "step" and not chart.log_y
        await pilot.press("a")
        assert chart.axis == "tokens" and "tokens" in bar_text(app)
        # the evaluation at step 25 sits at the tokens seen by then
        assert chart.x_of([25, 50]) == [float(steps[25]["tokens"]), float(steps[50]["tokens"])]
        await pilot.press("a")
        assert chart.axis == "time" and chart.x_of([25]) == [steps[25]["elapsed_s"]]
        await pilot.press("a")
        assert chart.axis == "step"
        await pilot.press("l")
        assert chart.log_y and "log" in bar_text(app)
        await pilot.press("l")
        assert not chart.log_y


# -- renaming, deleting, saving ------------------------------------------------------------------------
@pytest.mark.anyio
async def test_runs_screen_deletes_a_run_after_asking_and_refuses_the_loaded_one(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("RunTable")
        await wait_for(pilot, lambda: table.row_count == 2)
        table.focus()
        await pilot.press("down", "d")
        await wait_for(pilot, lambda: screen_name(app) == "ChoiceScreen")
        assert "Delete run 'fresh' and its 1 files" in str(app.screen.query_one("#choice-question").content)
        await pilot.press("enter")  # the focused button keeps the run
        await wait_for(pilot, lambda: screen_name(app) == "RunsScreen")
        assert (runs_home / "models" / "fresh").is_dir() and "Kept run fresh" in bar_text(app)
        await command(pilot, "/delete fresh")
        await wait_for(pilot, lambda: screen_name(app) == "ChoiceScreen")
        await pilot.click("#choice-delete")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert not (runs_home / "models" / "fresh").exists()
        assert "Deleted run fresh (1 files" in bar_text(app)
        await command(pilot, "/load fixture")
        await open_explorer(pilot)
        await command(pilot, "/delete fixture")
        assert "is open in the explorer, so it cannot be deleted" in bar_text(app)
        assert screen_name(app) == "ExplorerScreen" and (runs_home / "models" / "fixture").is_dir()
        await command(pilot, "/delete ghost")
        assert "There is no run named 'ghost'" in bar_text(app)


@pytest.mark.anyio
async def test_runs_screen_renames_a_run_in_a_dialog_and_by_command(runs_home):
    app = new_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("RunTable")
        await wait_for(pilot, lambda: table.row_count == 2)
        table.focus()
        await pilot.press("down", "m")
        await wait_for(pilot, lambda: screen_name(app) == "AskTextScreen")
        await pilot.pause()
        field = app.screen.query_one("#ask-input")
        assert field.value == "fresh"
        field.focus()
        for bad, why in (("../up", "Use letters"), ("fixture", "is taken")):
            field.value = bad
            await pilot.press("enter")
            await pilot.pause()
            assert why in str(app.screen.query_one("#ask-problem").content)
            assert screen_name(app) == "AskTextScreen"
        field.value = "fresh-2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "fresh-2" in [r.name for r in table.runs])
        assert "Renamed run fresh to fresh-2" in bar_text(app)
        assert not (runs_home / "models" / "fresh").exists()
        await command(pilot, "/rename fixture fox")
        await wait_for(pilot, lambda: "fox" in [r.name for r in table.runs])
        assert (runs_home / "models" / "fox" / "model.safetensors").is_file()
        await command(pilot, "/rename fox fresh-2")
        assert "The name 'fresh-2' is taken" in bar_text(app)


@pytest.mark.anyio
async def test_save_writes_the_explorers_tokens_samples_and_the_runs_metrics(runs_home):
    import csv
    import json

    from tinygpt_tui import tables

    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        await command(pilot, "/save tokens early.csv")
        assert "There is no generation to save tokens of yet" in bar_text(app)
        await generate_seeded(pilot, "Once upon", 12, at_least=4, samples=2)
        records = [r for v in app.screen.query("TokenView.sample-view") for r in v.records]
        await command(pilot, "/save tokens tokens.csv")
        assert f"Saved {len(records)} tokens to tokens.csv" in bar_text(app)
        with open(runs_home / "tokens.csv", newline="", encoding="utf-8") as f:
            back = list(csv.DictReader(f))
        assert [int(r["id"]) for r in back] == [r.id for r in records]
        assert [r["text"] for r in back] == [r.display for r in records]
        assert [float(r["prob"]) for r in back] == [r.prob for r in records]
        await command(pilot, "/save samples samples.json")
        samples = json.loads((runs_home / "samples.json").read_text(encoding="utf-8"))
        assert samples == tables.sample_rows("Once upon", records) and len(samples) == 2
        await command(pilot, "/save metrics metrics.json")
        metrics = json.loads((runs_home / "metrics.json").read_text(encoding="utf-8"))
        assert metrics and {m["event"] for m in metrics} == {"step", "eval"}
        await command(pilot, "/save tokens tokens.csv")
        assert "already exists" in bar_text(app)
        await command(pilot, "/save tokens tokens.txt")
        assert "Cannot tell the format of 'tokens.txt'" in bar_text(app)
