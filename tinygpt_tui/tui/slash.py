"""Slash commands in the app: dispatch (``/load RUN`` → :meth:`SlashCommands._cmd_load`) and help.

The command bar and the command palette both hand a line to :meth:`SlashCommands.run`. Parsing and
the registry of commands (names, usage, help) are commands.py's, shared with the REPL; what a command
means here, and its help where that differs (:data:`TUI_HELP`), is this module's.
"""

from __future__ import annotations

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
        self.app.new_run()

    def _cmd_rename(self, args: list[str]) -> None:
        run = args[0] if args else self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /rename OLD NEW, or select a run on the runs screen.")
        self.app.rename_run(run, args[1] if len(args) > 1 else None)

    def _cmd_delete(self, args: list[str]) -> None:
        run = args[0] if args else self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /delete RUN, or select a run on the runs screen.")
        self.app.delete_run(run)

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

    def _cmd_quit(self, args: list[str]) -> None:
        self.app.action_quit()

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
