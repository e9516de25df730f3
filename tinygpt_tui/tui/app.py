"""``tinygpt-tui``: the Textual app. It wires screens, commands and background work together.

The app owns the :class:`~tinygpt_tui.engine.Engine`, the sampling parameters and the watchers of
training runs (threads that turn a training process's events, or a followed ``metrics.jsonl``, into
:class:`~tinygpt_tui.tui.messages.TrainingEvent` messages). Screens do the rest.

Quitting while this app is training asks first: stop the training (it saves a checkpoint; /train
resumes it), or leave it running on its own (it lives in its own session, writes metrics.jsonl and
ignores the closed pipe; /train RUN re-attaches later), or cancel. Runs that another process trains
are only watched, never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

from ..config import SamplingConfig, TinyGPTError
from ..engine import Engine, MetricsFollower, TrainingProcess, quick_start_config
from .messages import RunLoaded, TrainingEnded, TrainingEvent
from .palette import SlashCommandProvider
from .screens.confirm import ChoiceScreen
from .screens.help import HelpScreen
from .screens.new_run import NewRunResult, NewRunScreen
from .screens.runs import RunsScreen
from .widgets.command_bar import CommandBar


def short_path(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (shorter, and stable in tests)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def _error_text(err: TinyGPTError) -> str:
    return err.message if not err.hint else f"{err.message} Hint: {err.hint}"


class TinyGPTApp(App[None]):
    """The workbench. ``TinyGPTApp(models_dir=..., data_dir=..., run=...)`` is also the test factory."""

    CSS_PATH = "app.tcss"
    TITLE = "tinygpt"
    SUB_TITLE = "train and inspect tiny GPTs"
    COMMANDS = App.COMMANDS | {SlashCommandProvider}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        models_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        *,
        run: str | None = None,
        engine: Engine | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine or Engine(models_dir, data_dir)
        self.params: SamplingConfig = SamplingConfig()
        self.initial_run = run
        self.current_run: str | None = None
        """The run the explorer shows (loaded) or the training screen last showed."""
        self._watchers: dict[str, TrainingProcess | MetricsFollower] = {}
        self._explore_when_done: set[str] = set()

    # -- screens -----------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return RunsScreen()

    def on_mount(self) -> None:
        if self.initial_run:
            run = self.initial_run
            if self.engine.run_exists(run) and self.engine.is_training(run):
                # trained right now (by a process left running, or another one): watch it
                self.show_training(run)
            else:
                self.open_run(run)

    def _go(self, screen: Screen) -> None:
        """Show ``screen`` right above the runs screen (the stack stays two deep)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(screen)

    def _find_screen(self, cls: type) -> Any | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, cls):
                return screen
        return None

    def show_runs(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def open_run(self, run: str) -> None:
        """Open ``run``: the explorer when it has weights, otherwise its training screen."""
        if not self.engine.run_exists(run):
            self.say(f"There is no run named '{run}' in {short_path(self.engine.models_dir)}. "
                     "Hint: /load with no name lists the runs; /new creates one.", error=True)
            return
        if self.engine.has_weights(run):
            self.load_run(run)
        else:
            self.show_training(run)

    def load_run(self, run: str) -> None:
        """Load ``run`` in a worker thread (torch import and weights), then show the explorer."""
        self.say(f"Loading {run}…")
        self._load_worker(run)

    @work(thread=True, exclusive=True, group="load")
    def _load_worker(self, run: str) -> None:
        try:
            self.engine.load(run)
        except TinyGPTError as err:
            self.post_message(RunLoaded(run, _error_text(err)))
            return
        self.post_message(RunLoaded(run))

    @on(RunLoaded)
    def _run_loaded(self, message: RunLoaded) -> None:
        if message.error:
            self.say(message.error, error=True)
            return
        from .screens.explorer import ExplorerScreen

        self.current_run = message.run
        self.params = self.engine.default_params()
        explorer = self._find_screen(ExplorerScreen)
        if explorer is not None and explorer.run == message.run:
            # the same run again (new weights after training): keep the screen, refresh its facts
            explorer.refresh_status()
            while self.screen is not explorer:
                self.pop_screen()
        else:
            self._go(ExplorerScreen(message.run))
        self.say(f"Loaded {message.run}: {self.engine.num_params():,} parameters. Type a prompt and press enter.")

    def show_training(self, run: str, start: bool = False) -> None:
        """Show the training screen of ``run``; ``start`` starts (or resumes) training too."""
        from .screens.training import TrainingScreen

        if not self.engine.run_exists(run):
            self.say(f"There is no run named '{run}'. Hint: create it with /new.", error=True)
            return
        self.current_run = run
        screen = self._find_screen(TrainingScreen)
        if screen is None or screen.run != run:
            screen = TrainingScreen(run)
            self._go(screen)
        else:
            while self.screen is not screen:
                self.pop_screen()
        if start:
            screen.final = None  # the end of the previous session is old news now
            self.start_training(run)
        elif run not in self._watchers and self.engine.is_training(run):
            self.attach(run)

    def show_vocab(self) -> None:
        from .screens.vocab import VocabScreen

        if not self.engine.loaded:
            self.say("No model is loaded. Hint: pick a run on the runs screen or type /load RUN.", error=True)
            return
        if not isinstance(self.screen, VocabScreen):
            self.push_screen(VocabScreen(self.engine.run_name or ""))

    def new_run(self) -> None:
        """Open the new-run form; create the run it returns (and start training when asked)."""
        def created(result: NewRunResult | None) -> None:
            if result is None:
                return
            try:
                self.engine.create_run(result.config)
            except TinyGPTError as err:
                self.say(_error_text(err), error=True)
                return
            self._refresh_runs()
            self.show_training(result.config.name, start=result.train)

        self.push_screen(NewRunScreen(self.engine.run_names()), created)

    def quick_start(self) -> None:
        """Create run 'quick' (preset tiny, storybook corpus) if needed, train it, then explore it."""
        cfg = quick_start_config()
        if not self.engine.run_exists(cfg.name):
            try:
                self.engine.create_run(cfg)
            except TinyGPTError as err:
                self.say(_error_text(err), error=True)
                return
        self._explore_when_done.add(cfg.name)
        self.show_training(cfg.name, start=True)

    # -- training ----------------------------------------------------------------------------------
    def start_training(self, run: str) -> None:
        try:
            proc = self.engine.start_training(run)
        except TinyGPTError as err:
            self.say(_error_text(err), error=True)
            return
        if self._watchers.get(run) is not proc:
            self._watch(run, proc)
        self.say(f"Training {run} in process {proc.proc.pid}. /stop (or x) stops it and saves a checkpoint.")
        self._refresh_runs()

    def stop_training(self, run: str | None = None) -> None:
        run = run or self.current_run
        if run is None:
            self.say("No run is selected. Hint: /stop works on the run the training screen shows.", error=True)
            return
        if self.engine.stop_training(run):
            self.say(f"Stopping {run}: it saves a checkpoint and exits.")
        elif self.engine.is_training(run):
            self.say(f"{run} is trained by another process; this app only watches it. "
                     "Hint: stop it with Ctrl-C in its own terminal.", error=True)
        else:
            self.say(f"{run} is not training.", error=True)

    def attach(self, run: str) -> None:
        """Follow a run another process trains (its metrics.jsonl), from the current end of the file."""
        _, offset = self.engine.read_metrics(run)
        self._watch(run, self.engine.attach(run, since_offset=offset))
        self.say(f"Watching {run}, trained by another process.")

    def _watch(self, run: str, source: TrainingProcess | MetricsFollower) -> None:
        """A daemon thread turns ``source``'s events into TrainingEvent messages for the app."""
        old = self._watchers.get(run)
        if isinstance(old, MetricsFollower):
            old.stop()
        self._watchers[run] = source

        def pump() -> None:
            for event in source.events():
                self.post_message(TrainingEvent(run, event))
            code = source.returncode if isinstance(source, TrainingProcess) else None
            self.post_message(TrainingEnded(run, code))

        threading.Thread(target=pump, name=f"watch-{run}", daemon=True).start()

    def is_watched(self, run: str) -> bool:
        return run in self._watchers

    @on(TrainingEvent)
    def _training_event(self, message: TrainingEvent) -> None:
        from .screens.training import TrainingScreen

        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.run == message.run:
                screen.handle_event(message.event)
        kind = message.event.get("event")
        if kind == "error":
            self.notify(message.event.get("message", "training failed"), title=f"{message.run}: error",
                        severity="error", timeout=10)
        if kind in ("done", "checkpoint", "error"):
            self._refresh_runs()
        if kind == "done" and message.event.get("reason") != "interrupted" and message.run in self._explore_when_done:
            # the quick start ends in the explorer
            self._explore_when_done.discard(message.run)
            self.load_run(message.run)

    @on(TrainingEnded)
    def _training_ended(self, message: TrainingEnded) -> None:
        from .screens.training import TrainingScreen

        self._watchers.pop(message.run, None)
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.run == message.run:
                screen.training_ended(message.returncode)
        self._refresh_runs()

    def _refresh_runs(self) -> None:
        runs_screen = self.screen_stack[0] if self.screen_stack else None
        if isinstance(runs_screen, RunsScreen) and runs_screen.is_mounted:
            runs_screen.refresh_runs()

    # -- commands ----------------------------------------------------------------------------------
    def say(self, text: str, error: bool = False) -> None:
        """Show ``text`` under the current screen's command bar.

        A screen still being composed keeps the message until its bar mounts; dialogs (which have no
        bar) get a notification instead.
        """
        screen = self.screen
        bars = screen.query(CommandBar)
        if bars:
            bars.first().show_message(text, error=error)
        elif isinstance(screen, ModalScreen):
            self.notify(text, severity="error" if error else "information")
        else:
            screen.pending_message = (text, error)  # type: ignore[attr-defined]

    @on(CommandBar.CommandEntered)
    def _command_entered(self, message: CommandBar.CommandEntered) -> None:
        self.handle_command(message.line)

    @on(CommandBar.PromptEntered)
    def _prompt_elsewhere(self, message: CommandBar.PromptEntered) -> None:
        """Plain text typed outside the explorer (which handles its own) is a prompt for the loaded run."""
        from .screens.explorer import ExplorerScreen

        explorer = self._find_screen(ExplorerScreen)
        if explorer is None or not self.engine.loaded:
            self.say("Plain text is a prompt: open a trained run first (enter on a run, or /load RUN).",
                     error=True)
            return
        while self.screen is not explorer:
            self.pop_screen()
        explorer.generate(message.text)

    def handle_command(self, line: str) -> None:
        """Run one slash command (shared with the command palette)."""
        from .. import commands

        try:
            cmd = commands.parse(line)
        except TinyGPTError as err:
            self.say(_error_text(err), error=True)
            return
        if cmd is None:
            self.say("That is a prompt, not a command: type it in the explorer.", error=False)
            return
        name = cmd.name.lstrip("/").lower()
        args = list(cmd.args)
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            self.say(f"Unknown command '/{name}'. Hint: /help lists the commands.", error=True)
            return
        try:
            handler(args)
        except TinyGPTError as err:
            self.say(_error_text(err), error=True)

    def _cmd_help(self, args: list[str]) -> None:
        from .. import commands

        if args:
            usage, text = commands.help_rows(args[0])[0]
            self.say(f"{usage}: {TUI_HELP.get(usage.split()[0].lstrip('/'), text)}")
            return
        self.action_help()

    def _cmd_params(self, args: list[str]) -> None:
        from .. import commands

        if args:
            self.params = commands.apply_params(self.params, args)
        self.say("params: " + format_params(self.params))
        self._params_changed()

    def _cmd_seed(self, args: list[str]) -> None:
        from .. import commands

        if len(args) != 1:
            raise TinyGPTError("/seed takes one number.", "for example /seed 42, or /seed none for fresh seeds.")
        self.params = commands.apply_params(self.params, [f"seed={args[0]}"])
        self.say("params: " + format_params(self.params))
        self._params_changed()

    def _params_changed(self) -> None:
        from .screens.explorer import ExplorerScreen

        explorer = self._find_screen(ExplorerScreen)
        if explorer is not None:
            explorer.refresh_status()

    def _cmd_tokens(self, args: list[str]) -> None:
        self.show_vocab()

    def _cmd_train(self, args: list[str]) -> None:
        run = args[0] if args else self._selected_or_current()
        if run is None:
            raise TinyGPTError("Which run?", "type /train RUN, or select a run on the runs screen.")
        if not self.engine.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "create it with /new.")
        busy_elsewhere = self.engine.is_training(run) and run not in self.engine.training
        self.show_training(run, start=not busy_elsewhere)

    def _cmd_stop(self, args: list[str]) -> None:
        from .screens.explorer import ExplorerScreen

        screen = self.screen
        if isinstance(screen, ExplorerScreen) and screen.busy:
            screen.cancel_generation()
            self.say("Generation stopped.")
            return
        self.stop_training(args[0] if args else None)

    def _cmd_load(self, args: list[str]) -> None:
        if not args:
            names = sorted(self.engine.run_names())
            self.say("runs: " + (", ".join(names) if names else "none yet (try /new)"))
            return
        run = args[0]
        if not self.engine.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}' in {short_path(self.engine.models_dir)}.",
                               "/load with no name lists the runs.")
        if not self.engine.has_weights(run):
            raise TinyGPTError(f"Run '{run}' has no trained weights yet.", f"train it first with /train {run}.")
        self.load_run(run)

    def _cmd_new(self, args: list[str]) -> None:
        self.new_run()

    def _cmd_clear(self, args: list[str]) -> None:
        from .screens.explorer import ExplorerScreen

        if isinstance(self.screen, ExplorerScreen):
            self.screen.clear_samples()
        self.say("")

    def _cmd_quit(self, args: list[str]) -> None:
        self.action_quit()

    def _selected_or_current(self) -> str | None:
        screen = self.screen
        if isinstance(screen, RunsScreen):
            from .widgets.run_table import RunTable

            name = screen.query_one(RunTable).selected_run
            if name:
                return name
        return self.current_run

    # -- actions -----------------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(commands_markdown()))

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit; while this app trains, ask whether to stop training (a checkpoint is saved) first."""
        active = self.engine.active_training()
        if not active:
            self._stop_followers()
            self.exit()
            return
        names = ", ".join(p.run for p in active)

        def decided(choice: str | None) -> None:
            if choice == "stop":
                self.notify(f"Stopping {names} and saving a checkpoint…")
                self._stop_and_exit()
            elif choice == "leave":
                self._stop_followers()
                self.exit(message=f"{names} keeps training in the background; "
                                  f"`tinygpt-tui --run {active[0].run}` or /train {active[0].run} watches it again.")

        self.push_screen(
            ChoiceScreen(
                f"Training of {names} is running in this app.\n\n"
                "Stop it: it saves a checkpoint, and /train resumes it later from there.\n"
                "Leave it: it keeps training in the background; /train re-attaches to it.",
                [("stop", "Stop and quit", "error"), ("leave", "Leave running, quit", "warning"),
                 ("cancel", "Cancel", "primary")],
            ),
            decided,
        )

    @work(thread=True, exclusive=True, group="quit")
    def _stop_and_exit(self) -> None:
        self.engine.shutdown(stop_training=True, wait=60.0)
        self._stop_followers()
        self.call_from_thread(self.exit)

    def _stop_followers(self) -> None:
        for source in self._watchers.values():
            if isinstance(source, MetricsFollower):
                source.stop()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help (F1)", "Commands and keys", self.action_help)


def format_params(params: SamplingConfig) -> str:
    """``temperature=0.8 top_k=50 …`` for the status line and /params."""
    seed = "fresh" if params.seed is None else params.seed
    stop = f" stop={','.join(params.stop)}" if params.stop else ""
    return (f"temperature={params.temperature:g} top_k={params.top_k} top_p={params.top_p:g} "
            f"max_new_tokens={params.max_new_tokens} num_samples={params.num_samples} seed={seed}"
            f" alternatives={params.alternatives}{stop}")


# where a command means something more specific in the app than in the REPL
TUI_HELP = {
    "new": "Create a new run: a form with source, tokenizer, vocabulary size, preset and steps.",
    "clear": "Clear the samples in the explorer.",
    "train": "Open the training screen of a run (the selected or current one) and start or resume it; "
             "a run trained by another process is watched instead.",
    "stop": "Stop the generation in progress, or this app's training (it saves a checkpoint).",
    "load": "Open a trained run in the generation explorer (/load alone lists the runs).",
    "tokens": "Open the vocabulary explorer of the loaded run.",
}


def commands_markdown() -> str:
    """The slash commands as a Markdown table, from commands.py's registry."""
    from .. import commands

    lines = ["## Commands", "", "| command | does |", "| --- | --- |"]
    for usage, text in command_entries(commands):
        text = TUI_HELP.get(usage.split()[0].lstrip("/"), text)
        lines.append(f"| `{usage}` | {text} |")
    lines.append("")
    lines.append("Anything that does not start with `/` is a prompt (in the explorer).")
    return "\n".join(lines)


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


def main(argv: list[str] | None = None) -> int:
    """Console entry point: ``tinygpt-tui [--models-dir D] [--data-dir D] [--run NAME]``."""
    parser = argparse.ArgumentParser(prog="tinygpt-tui", description="Train and inspect tiny GPT models in a terminal.")
    parser.add_argument("--models-dir", help="where runs live (default: ./models or $TINYGPT_MODELS)")
    parser.add_argument("--data-dir", help="where prepared datasets live (default: ./data or $TINYGPT_DATA)")
    parser.add_argument("--run", help="open this run right away (its training screen while it trains or when it "
                                      "has no weights, else the explorer)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app = TinyGPTApp(args.models_dir, args.data_dir, run=args.run)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
