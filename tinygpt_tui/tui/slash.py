"""Slash commands in the app: dispatch (``/load RUN`` → :meth:`SlashCommands._cmd_load`) and help.

The command bar and the command palette both hand a line to :meth:`SlashCommands.run`. Parsing and
the registry of commands (names, usage, help) are commands.py's, shared with the REPL; what a command
means here, and its help where that differs (:data:`TUI_HELP`), is this module's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..commands import format_params
from ..config import TinyGPTError
from ..present import short_path

if TYPE_CHECKING:
    from .app import TinyGPTApp

# where a command means something more specific in the app than in the REPL
TUI_HELP = {
    "new": "Create a new run: a form with source, tokenizer, vocabulary size, preset and steps.",
    "clear": "Clear the samples in the explorer.",
    "train": "Open the training screen of a run (the selected or current one) and start or resume it; "
             "a run trained by another process is watched instead.",
    "stop": "Stop the generation in progress, or this app's training (it saves a checkpoint).",
    "load": "Open a trained run in the generation explorer (/load alone lists the runs).",
    "tokens": "Open the vocabulary explorer of the loaded run.",
    "lens": "Select token N (from 1) of a sample in the explorer and open its logit lens (F7).",
    "cuts": "Select token N (from 1) of a sample in the explorer and open the sampler's cuts there (F8).",
    "timelapse": "Open the Time-lapse tab (F9): a slider (, . or ←/→) across the run's checkpoint history showing "
                 "the sample each checkpoint writes for the prompt, with one seed, and a token × checkpoint heat "
                 "map of the surprisal of TEXT (default: the scored text, or the prompt and its first sample).",
    "branch": "Continue the sample (or branch) in view from another token: at token POSITION (as the detail "
              "panel numbers it) take its ALTERNATIVE-th alternative, or id=N, or text=T. Keys: b on a token.",
    "branches": "Show the Branches tab (N: branch N; sample S: sample S's tree, each sample has its own); "
                "save FILE / open FILE keep every sample's tree as JSON.",
    "compare": "Compare runs on one chart (each in its colour) and in a table: preset, parameters, tokens seen, "
               "best validation bits per byte, time; runs still training are followed. /compare alone: the runs "
               "marked with space on the runs screen (c there). Keys: a x axis, l log y, m validation/training.",
    "rename": "Rename a run (/rename OLD NEW; /rename alone asks for the selected run's new name).",
    "delete": "Delete a run and its files, after a confirmation (the selected run when none is named).",
}


def command_entries(commands_module: Any) -> list[tuple[str, str]]:
    """(usage, help) pairs of the registry, whatever its exact shape (dict of objects or of strings)."""
    registry = commands_module.COMMANDS
    items = registry.items() if isinstance(registry, dict) else ((getattr(c, "name", str(c)), c) for c in registry)
    out = []
    for name, spec in items:
        if isinstance(spec, str):
            usage, text = f"/{name.lstrip('/')}", spec
        else:
            usage = getattr(spec, "usage", None) or f"/{str(name).lstrip('/')}"
            text = getattr(spec, "help", None) or getattr(spec, "summary", "") or ""
        out.append((usage, text))
    return out


def command_help() -> dict[str, str]:
    """Each command's help in this app, by name (no slash)."""
    from .. import commands

    helps = {usage.split()[0].lstrip("/"): text for usage, text in command_entries(commands)}
    helps.update(TUI_HELP)
    return helps


def commands_markdown() -> str:
    """The slash commands as a Markdown table, from commands.py's registry."""
    from .. import commands

    lines = ["## Commands", "", "| command | does |", "| --- | --- |"]
    for usage, text in command_entries(commands):
        text = TUI_HELP.get(usage.split()[0].lstrip("/"), text)
        # a | inside a cell (as in "[N|TIME]") would end the cell: Markdown wants it escaped
        usage, text = usage.replace("|", "\\|"), text.replace("|", "\\|")
        lines.append(f"| `{usage}` | {text} |")
    lines.append("")
    lines.append("Anything that does not start with `/` is a prompt (in the explorer).")
    return "\n".join(lines)


class SlashCommands:
    """Runs slash commands against the app; a ``TinyGPTError`` becomes a red line under the bar."""

    def __init__(self, app: TinyGPTApp) -> None:
        self.app = app

    def run(self, line: str) -> None:
        """Run one slash command line."""
        from .. import commands

        app = self.app
        try:
            cmd = commands.parse(line)
        except TinyGPTError as err:
            app.say_error(err)
            return
        if cmd is None:
            app.say("That is a prompt, not a command: type it in the explorer.", error=False)
            return
        name = cmd.name.lstrip("/").lower()
        args = list(cmd.args)
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            app.say(f"Unknown command '/{name}'. Hint: /help lists the commands.", error=True)
            return
        try:
            handler(args)
        except TinyGPTError as err:
            app.say_error(err)

    # -- the commands ------------------------------------------------------------------------------
    def _cmd_help(self, args: list[str]) -> None:
        from .. import commands

        if args:
            usage, text = commands.help_rows(args[0])[0]
            self.app.say(f"{usage}: {TUI_HELP.get(usage.split()[0].lstrip('/'), text)}")
            return
        self.app.action_help()

    def _cmd_params(self, args: list[str]) -> None:
        from .. import commands

        app = self.app
        if args:
            app.params = commands.apply_params(app.params, args)
        app.say("params: " + format_params(app.params))
        app.params_changed()

    def _cmd_seed(self, args: list[str]) -> None:
        from .. import commands

        app = self.app
        if len(args) != 1:
            raise TinyGPTError("/seed takes one number.", "for example /seed 42, or /seed none for fresh seeds.")
        app.params = commands.apply_params(app.params, [f"seed={args[0]}"])
        app.say("params: " + format_params(app.params))
        app.params_changed()

    def _cmd_tokens(self, args: list[str]) -> None:
        self.app.show_vocab()

    def _cmd_versus(self, args: list[str]) -> None:
        from .screens.explorer import ExplorerScreen

        app = self.app
        if not args:
            raise TinyGPTError("Which run should the loaded one be compared with?", "type /versus RUN [TEXT].")
        if not app.workbench.loaded or app.workbench.run_name is None:
            raise TinyGPTError("No model is loaded.", "pick a run on the runs screen or type /load RUN.")
        run, text = args[0], " ".join(args[1:])
        if not text and isinstance(app.screen, ExplorerScreen):
            text = app.screen.last_prompt
        if not text:
            raise TinyGPTError("There is no text to compare the runs on.", f"type /versus {run} some text.")
        if not app.workbench.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "/load with no name lists the runs.")
        from .screens.versus import VersusScreen

        app.push_screen(VersusScreen(app.workbench.run_name, run, text))

    def _cmd_compare(self, args: list[str]) -> None:
        from .screens.runs import RunsScreen
        from .widgets.run_table import RunTable

        app = self.app
        names = list(args)
        if not names and isinstance(app.screen, RunsScreen):
            names = list(app.screen.query_one(RunTable).marked)
        if not names:
            raise TinyGPTError("Which runs?", "type /compare RUN RUN..., or mark runs with space on the runs "
                                              "screen and press c.")
        app.show_compare(names)

    def _cmd_train(self, args: list[str]) -> None:
        app = self.app
        run = args[0] if args else self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /train RUN, or select a run on the runs screen.")
        if not app.workbench.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "create it with /new.")
        busy_elsewhere = app.workbench.is_training(run) and run not in app.workbench.training
        app.show_training(run, start=not busy_elsewhere)

    def _cmd_continue(self, args: list[str]) -> None:
        from ..commands import continue_args

        app = self.app
        steps, seconds, run = continue_args(args)
        run = run or self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /continue 500 RUN, or open a run's training screen.")
        if not app.workbench.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "/load with no name lists the runs.")
        app.continue_training(run, steps=steps, seconds=seconds)

    def _cmd_stop(self, args: list[str]) -> None:
        from .screens.explorer import ExplorerScreen

        app = self.app
        screen = app.screen
        if isinstance(screen, ExplorerScreen) and screen.busy:
            screen.cancel_generation()
            app.say("Generation stopped.")
            return
        app.training.stop(args[0] if args else None)

    def _cmd_load(self, args: list[str]) -> None:
        app = self.app
        if not args:
            names = sorted(app.workbench.run_names())
            app.say("runs: " + (", ".join(names) if names else "none yet (try /new)"))
            return
        run = args[0]
        if not app.workbench.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}' in {short_path(app.workbench.models_dir)}.",
                               "/load with no name lists the runs.")
        if not app.workbench.has_weights(run):
            raise TinyGPTError(f"Run '{run}' has no trained weights yet.", f"train it first with /train {run}.")
        app.load_run(run)

    def _cmd_new(self, args: list[str]) -> None:
        self.app.dialogs.new_run()

    def _cmd_rename(self, args: list[str]) -> None:
        run = args[0] if args else self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /rename OLD NEW, or select a run on the runs screen.")
        self.app.dialogs.rename(run, args[1] if len(args) > 1 else None)

    def _cmd_delete(self, args: list[str]) -> None:
        run = args[0] if args else self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /delete RUN, or select a run on the runs screen.")
        self.app.dialogs.delete(run)

    def _cmd_save(self, args: list[str]) -> None:
        from pathlib import Path

        from ..commands import save_args
        from .screens.explorer import ExplorerScreen

        app = self.app
        kind, file, run = save_args(args)
        prompt, records = "", []
        if kind == "metrics":
            run = run or self._selected_or_current()
        else:
            explorer = app.find_screen(ExplorerScreen)
            if explorer is not None:
                # the token views of the explorer's last generation, one per sample, in order
                prompt = explorer.last_prompt
                records = [r for view in explorer.query("TokenView.sample-view") for r in view.records]
        try:
            path, n = app.workbench.save_table(kind, Path(file), prompt=prompt, records=records, run=run)
        except OSError as err:
            app.say_error(err)
            return
        what = {"samples": "sample", "tokens": "token", "metrics": "measurement"}[kind]
        app.say(f"Saved {n} {what}{'s' if n != 1 else ''} to {short_path(path)}.")

    def _cmd_clear(self, args: list[str]) -> None:
        from .screens.explorer import ExplorerScreen

        app = self.app
        if isinstance(app.screen, ExplorerScreen):
            app.screen.clear_samples()
        app.say("")

    def _explorer(self) -> Any:
        from .screens.explorer import ExplorerScreen

        screen = self.app.screen
        if not isinstance(screen, ExplorerScreen):
            raise TinyGPTError("Branches live in the generation explorer.", "open a run there first (/load RUN).")
        return screen

    def _cmd_branch(self, args: list[str]) -> None:
        from .. import commands

        screen = self._explorer()
        position, spec = commands.branch_args(args)
        source = screen.current_source()
        if source is None or not source.records:
            raise TinyGPTError("Which sample?", "select a token of a generated sample (or branch) first.")
        if position >= len(source.records):
            raise TinyGPTError(f"There are {len(source.records)} tokens in view, not {position + 1}.",
                               f"pick a position from 1 to {len(source.records)}.")
        record = source.records[position]
        token = commands.pick_alternative(record, spec, self.app.workbench.tokenizer.encode)
        self.app.run_worker(screen.branch_from(record, token))

    def _cmd_branches(self, args: list[str]) -> None:
        from .. import commands
        from ..branches import open_trees
        from .widgets.branch_pane import branch_pane

        screen = self._explorer()
        action, value = commands.branches_args(args)
        path = Path(str(value)).expanduser() if action in ("save", "open") else None
        panes = screen.query("BranchPane")
        pane = panes.first() if panes else None
        if action == "open":
            trees = open_trees(path)  # a bad file: one sentence, before anything changes

            async def show() -> None:
                opened = await branch_pane(screen.query_one("#explorer-tabs"))
                opened.set_trees(trees)
                screen.query_one("#explorer-tabs").active = "branches-pane"

            self.app.run_worker(show())
            self.app.say(f"Opened {short_path(path)}: {_count(trees)} of {trees.tree.prompt!r}.")
            return
        if pane is None or pane.branch_tree is None:
            raise TinyGPTError("There is no branch tree yet.",
                               "select a generated token and press b, or /branches open FILE.")
        if action == "save":
            pane.trees.save(path)  # every sample's tree: a file keeps all that was grown
            self.app.say(f"Saved {_count(pane.trees)} to {short_path(path)}.")
            return
        if action == "go":
            pane.show(int(value))
        elif action == "sample":
            pane.show_sample(int(value))
        screen.query_one("#explorer-tabs").active = "branches-pane"
        several = len(pane.trees.trees) > 1
        self.app.say(f"{_count(pane.trees)}; [ ] siblings, p parent, "
                     + ("{ } samples' trees, " if several else "") + "b on a token branches again.")

    def _cmd_quit(self, args: list[str]) -> None:
        self.app.action_quit()

    def _cmd_timelapse(self, args: list[str]) -> None:
        from .screens.explorer import ExplorerScreen

        screen = self.app.screen
        if not isinstance(screen, ExplorerScreen):
            raise TinyGPTError("/timelapse plays a run back in the explorer.",
                               "open a run (/load RUN), then /timelapse (or F9), or tinygpt timelapse --run RUN.")
        text = " ".join(args).replace("\\n", "\n") or None
        self.app.run_worker(screen.action_timelapse(text))

    def _cmd_lens(self, args: list[str]) -> None:
        self._study("lens", args)

    def _cmd_cuts(self, args: list[str]) -> None:
        self._study("cuts", args)

    def _study(self, kind: str, args: list[str]) -> None:
        """/lens N [SAMPLE], /cuts N [SAMPLE]: select that token of the explorer's samples and open its
        view (what F7 / F8 do for the selected token)."""
        from ..commands import token_args
        from .screens.explorer import ExplorerScreen

        index, sample = token_args(args)
        screen = self.app.screen
        if not isinstance(screen, ExplorerScreen):
            raise TinyGPTError(f"/{kind} looks into a token of the explorer's samples.",
                               f"open a run (/load RUN), generate, then /{kind} N (or select a token and press "
                               f"{'F7' if kind == 'lens' else 'F8'}).")
        view = screen.sample_view(sample)
        if view is None or not view.records:
            raise TinyGPTError(f"There is no sample {sample + 1} to look into.", "generate from a prompt first.")
        if index >= len(view.records):
            raise TinyGPTError(f"There is no token {index + 1}: sample {sample + 1} has {len(view.records)} tokens.",
                               f"pick one from 1 to {len(view.records)}.")
        view.focus()
        view.select(index)
        screen.call_later(screen.action_study, kind)

    def _selected_or_current(self) -> str | None:
        from .screens.runs import RunsScreen
        from .widgets.run_table import RunTable

        app = self.app
        screen = app.screen
        if isinstance(screen, RunsScreen):
            name = screen.query_one(RunTable).selected_run
            if name:
                return name
        return app.current_run


def _count(trees) -> str:
    """``5 branches``, or ``7 branches in 2 samples' trees`` when several samples have one."""
    n = len(trees.trees)
    return f"{trees.branch_count()} branches" + (f" in {n} samples' trees" if n > 1 else "")
