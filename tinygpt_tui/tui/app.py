"""``tinygpt-tui``: the Textual app. It mounts the screens, routes between them and quits.

The app owns the :class:`~tinygpt_tui.workbench.Workbench` and the sampling parameters; the slash
commands are :mod:`~tinygpt_tui.tui.slash`'s, the watching of training runs
:mod:`~tinygpt_tui.tui.watch`'s. Screens do the rest, reaching the app through their typed
``tinygpt`` property (:class:`~tinygpt_tui.tui.screens.base.AppScreen`).

Quitting while this app is training asks first: stop the training (it saves a checkpoint; /train
resumes it), or leave it running on its own (it lives in its own session, writes metrics.jsonl and
ignores the closed pipe; /train RUN re-attaches later), or cancel. Runs that another process trains
are only watched, never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen

from ..config import SamplingConfig, TinyGPTError
from ..events import Checkpoint, Done, Error
from ..present import error_line, os_error, short_path
from ..workbench import Workbench
from ..workspace import Workspace
from .guard import Guarded
from .messages import RunLoaded, TrainingEnded, TrainingEvent
from .palette import SlashCommandProvider
from .run_dialogs import RunDialogs
from .screens.base import AppScreen
from .screens.confirm import ChoiceScreen
from .screens.help import HelpScreen
from .screens.runs import RunsScreen
from .slash import SlashCommands, commands_markdown
from .watch import TrainingWatch
from .widgets.command_bar import CommandBar

S = TypeVar("S", bound=Screen)

def landing_summary(run: str, done: Done) -> str:
    """Where the quick start lands, the result of its training: best validation bits per byte, tokens
    seen, time; and plainly when it is under-trained, with the command that trains it more."""
    from ..units import duration, human_count

    best = f"{done.best_val_bpb:.3f}" if done.best_val_bpb is not None else "-"
    line = (f"{run} trained: best val {best} bits/byte, {human_count(done.tokens)} tokens, "
            f"{duration(done.elapsed_s)}.")
    if done.undertrained:
        return f"{line} Under-trained: {done.undertrained_why}. /continue trains it more. Type a prompt to try it."
    return f"{line} Type a prompt and press enter."


class TinyGPTApp(Guarded, App[None]):
    """The workbench. ``TinyGPTApp(workspace, run=...)`` is also the test factory."""

    CSS_PATH = "app.tcss"
    TITLE = "tinygpt"
    SUB_TITLE = "train and inspect tiny GPTs"
    COMMANDS = App.COMMANDS | {SlashCommandProvider}
    # screens get the class -short below 32 rows (app.tcss fits them to a small terminal)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # "/" opens the command bar as soon as the app reads it, before the keys after it are routed:
        # "/help" and Enter in one burst (a paste, tmux, a fast typist) all land in the bar
        Binding("slash", "open_bar", "Command", show=False, priority=True),
    ]

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        run: str | None = None,
        workbench: Workbench | None = None,
        hf: str | None = None,
    ) -> None:
        super().__init__()
        if workbench is None:
            if workspace is None:
                raise TypeError("TinyGPTApp needs a workspace (or a workbench)")
            workbench = Workbench(workspace)
        self.workbench = workbench
        """The facade (a :class:`~tinygpt_tui.workbench.Workbench`) over this app's workspace."""
        self.params: SamplingConfig = SamplingConfig()
        self.initial_run = run
        self.initial_hf = hf
        """A Hugging Face model (hub id or folder) to open in the explorer right away."""
        self.current_run: str | None = None
        """The run the explorer shows (loaded) or the training screen last showed."""
        self.training = TrainingWatch(self)
        """The runs this app trains or watches, and their event pumps."""
        self.slash = SlashCommands(self)
        self.dialogs = RunDialogs(self)
        self.explore_when_done: set[str] = set()
        self._landing: dict[str, str] = {}
        """The end-of-training summary to say where the quick start lands (the explorer), by run."""

    # -- mounting ----------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return RunsScreen()

    def on_mount(self) -> None:
        if self.initial_hf:
            self.load_hf(self.initial_hf)
        elif self.initial_run:
            run = self.initial_run
            if self.workbench.run_exists(run) and self.workbench.is_training(run):
                # trained right now (by a process left running, or another one): watch it
                self.show_training(run)
            else:
                self.open_run(run)

    def on_unmount(self) -> None:
        # the pumps of followed runs end when their followers stop (the workers are cancelled too)
        self.training.stop_followers()

    # -- failures ----------------------------------------------------------------------------------
    CRASH_LOG = "crash.log"

    def _handle_exception(self, error: Exception) -> None:
        """An exception escaping a worker is reported (:meth:`report_failure`) and the app goes on.
        Handlers, actions and timers of the app's own screens and widgets never get here: :class:`Guarded`
        reports theirs where they are dispatched, so their message loops keep running. What still
        arrives (a failure inside Textual itself) is logged, then Textual's default (exit with the
        traceback) applies, since the loop that raised it has stopped."""
        from textual.worker import WorkerFailed

        if isinstance(error, WorkerFailed):
            self.report_failure(error.error)
            return
        self.log_crash(error)
        super()._handle_exception(error)

    def report_failure(self, error: BaseException) -> None:
        """A failure inside the app: its traceback goes to ``models/crash.log``, a notification says
        what failed and where the details are, and the app goes on."""
        path = self.log_crash(error)
        if self.is_running:
            where = f" (details in {short_path(path)})" if path else ""
            self.notify(f"Something failed inside the app: {type(error).__name__}: {error}{where}.",
                        title="internal error", severity="error", timeout=15)

    def log_crash(self, error: BaseException) -> str | None:
        """Append the traceback of ``error`` to the crash log in the models folder; its path, or None
        where it cannot be written (the notification says what happened anyway)."""
        import datetime
        import traceback

        path = self.workbench.models_dir / self.CRASH_LOG
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} tinygpt-tui\n{text}\n")
        except OSError:
            return None
        return str(path)

    # -- routing -----------------------------------------------------------------------------------
    def _go(self, screen: Screen) -> None:
        """Show ``screen`` right above the runs screen (the stack stays two deep)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(screen)

    def find_screen(self, cls: type[S]) -> S | None:
        """The topmost screen of type ``cls`` on the stack."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, cls):
                return screen
        return None

    def show_runs(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def open_run(self, run: str) -> None:
        """Open ``run``: the explorer when it has weights, otherwise its training screen."""
        if not self.workbench.run_exists(run):
            self.say(f"There is no run named '{run}' in {short_path(self.workbench.models_dir)}. "
                     "Hint: /load with no name lists the runs; /new creates one.", error=True)
            return
        if self.workbench.has_weights(run):
            self.load_run(run)
        else:
            self.show_training(run)

    def load_run(self, run: str) -> None:
        """Load ``run`` in a worker thread (torch import and weights), then show the explorer."""
        self.say(f"Loading {run}…")
        self._load_worker(run)

    def load_hf(self, source: str) -> None:
        """Open a Hugging Face model in a worker thread (transformers import, weights), then explore it."""
        self.say(f"Opening {source} with transformers…")
        self._load_hf_worker(source)

    @work(thread=True, exclusive=True, group="load")
    def _load_hf_worker(self, source: str) -> None:
        try:
            cfg = self.workbench.load_hf(source)
        except TinyGPTError as err:
            self.post_message(RunLoaded(f"hf:{source}", error_line(err)))
            return
        self.post_message(RunLoaded(cfg.name))

    @work(thread=True, exclusive=True, group="load")
    def _load_worker(self, run: str) -> None:
        try:
            self.workbench.load(run)
        except TinyGPTError as err:
            self.post_message(RunLoaded(run, error_line(err)))
            return
        self.post_message(RunLoaded(run))

    @on(RunLoaded)
    def _run_loaded(self, message: RunLoaded) -> None:
        if message.error:
            self.say(message.error, error=True)
            return
        from .screens.explorer import ExplorerScreen

        self.current_run = message.run
        self.params = self.workbench.default_params()
        explorer = self.find_screen(ExplorerScreen)
        if explorer is not None and explorer.run == message.run:
            # the same run again (new weights after training): keep the screen, refresh its facts
            explorer.refresh_status()
            while self.screen is not explorer:
                self.pop_screen()
        else:
            self._go(ExplorerScreen(message.run))
        landing = self._landing.pop(message.run, "")
        if landing:
            self.say(landing, error=False)
            return
        self.say(f"Loaded {message.run}: {self.workbench.num_params():,} parameters. Type a prompt and press enter.")

    def show_training(self, run: str, start: bool = False, nproc: int = 1) -> None:
        """Show the training screen of ``run``; ``start`` starts (or resumes) training too, in ``nproc``
        processes (DDP through torchrun)."""
        from .screens.training import TrainingScreen

        if not self.workbench.run_exists(run):
            self.say(f"There is no run named '{run}'. Hint: create it with /new.", error=True)
            return
        self.current_run = run
        screen = self.find_screen(TrainingScreen)
        if screen is None or screen.run != run:
            screen = TrainingScreen(run)
            self._go(screen)
        else:
            while self.screen is not screen:
                self.pop_screen()
        if start:
            screen.show_end = False  # the end of the previous session is old news now
            self.training.start(run, nproc=nproc)
        elif run not in self.training and self.workbench.is_training(run):
            self.training.attach(run)

    def continue_training(self, run: str, *, steps: int | None = None, seconds: float | None = None) -> None:
        """Give ``run`` more steps or time (default: its preset's budget again) and resume it on its
        training screen; it goes on exactly from its checkpoint."""
        try:
            added = self.workbench.extend_run(run, steps=steps, seconds=seconds)
        except TinyGPTError as err:
            self.say_error(err)
            return
        self.show_training(run, start=True)
        self.say(f"Continuing {run} for {added}, from its checkpoint. x stops it (a checkpoint is saved).")

    def show_compare(self, runs: list[str]) -> None:
        """Compare ``runs`` on one chart and in one table (CompareScreen); one sentence for a name that
        is no run."""
        from .screens.compare import CompareScreen

        for run in runs:
            if not self.workbench.run_exists(run):
                self.say(f"There is no run named '{run}'. Hint: the runs screen lists them; /load alone "
                         "names them.", error=True)
                return
        self._go(CompareScreen(runs))

    def show_vocab(self) -> None:
        from .screens.vocab import VocabScreen

        if not self.workbench.loaded:
            self.say("No model is loaded. Hint: pick a run on the runs screen or type /load RUN.", error=True)
            return
        if not isinstance(self.screen, VocabScreen):
            self.push_screen(VocabScreen(self.workbench.run_name or ""))

    def params_changed(self) -> None:
        """The sampling parameters changed: the explorer's status line shows them, and the loaded run
        keeps them for the next launch."""
        from .screens.explorer import ExplorerScreen

        if self.workbench.loaded and self.workbench.run_name:
            self.workbench.save_params(self.workbench.run_name, self.params)
        explorer = self.find_screen(ExplorerScreen)
        if explorer is not None:
            explorer.refresh_status()

    def refresh_runs(self) -> None:
        """Re-read the runs on the runs screen (a run was created, started, checkpointed or ended)."""
        runs_screen = self.screen_stack[0] if self.screen_stack else None
        if isinstance(runs_screen, RunsScreen) and runs_screen.is_mounted:
            runs_screen.refresh_runs()

    # -- training events, routed to the screens ----------------------------------------------------
    @on(TrainingEvent)
    def _training_event(self, message: TrainingEvent) -> None:
        from .screens.training import TrainingScreen

        event = message.event
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.run == message.run:
                screen.handle_event(event)
        if isinstance(event, Error):
            self.notify(event.message, title=f"{message.run}: error", severity="error", timeout=10)
        if isinstance(event, (Done, Checkpoint, Error)):
            self.refresh_runs()
        if isinstance(event, Done) and event.reason != "interrupted" and message.run in self.explore_when_done:
            # the quick start ends in the explorer
            self.explore_when_done.discard(message.run)
            self._landing[message.run] = landing_summary(message.run, event)
            self.load_run(message.run)

    @on(TrainingEnded)
    def _training_ended(self, message: TrainingEnded) -> None:
        from .screens.training import TrainingScreen

        self.training.ended(message.run)
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.run == message.run:
                screen.training_ended(message.returncode)
        self.refresh_runs()

    # -- messages and commands ---------------------------------------------------------------------
    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification of this app is shown as text: messages quote prompts, file names and
        what the user typed, which must never be read as markup. (A widget's ``notify`` passes
        ``markup=True`` by default; it is ignored here.)"""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

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
        elif isinstance(screen, AppScreen):
            screen.pending_message = (text, error)

    def say_error(self, err: BaseException) -> None:
        """The app's way of showing a user error: its sentence and hint, in red under the bar. An
        operating-system error (read-only folder, disk full...) is worded by ``present.os_error``."""
        if isinstance(err, OSError):
            self.say(error_line(*os_error(err)), error=True)
            return
        self.say(error_line(err), error=True)

    def handle_command(self, line: str) -> None:
        """Run one slash command (from the command bar or the palette)."""
        self.slash.run(line)

    @on(CommandBar.CommandEntered)
    def _command_entered(self, message: CommandBar.CommandEntered) -> None:
        self.handle_command(message.line)

    @on(CommandBar.PromptEntered)
    def _prompt_elsewhere(self, message: CommandBar.PromptEntered) -> None:
        """Plain text typed outside the explorer (which handles its own) is a prompt for the loaded run."""
        from .screens.explorer import ExplorerScreen

        explorer = self.find_screen(ExplorerScreen)
        if explorer is None or not self.workbench.loaded:
            self.say("Plain text is a prompt: open a trained run first (enter on a run, or /load RUN).",
                     error=True)
            return
        while self.screen is not explorer:
            self.pop_screen()
        explorer.generate(message.text)

    # -- actions -----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_bar":
            # not while typing into a field (the bar itself, a form), nor where there is no bar
            from textual.widgets import Input, TextArea

            screen = self.screen
            return (isinstance(screen, AppScreen) and not isinstance(self.focused, (Input, TextArea))
                    and bool(screen.query(CommandBar)))
        return True

    def action_open_bar(self) -> None:
        screen = self.screen
        if isinstance(screen, AppScreen):
            screen.action_command()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(commands_markdown()))

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit; while this app trains, ask whether to stop training (a checkpoint is saved) first."""
        active = self.workbench.active_training()
        if not active:
            self.training.stop_followers()
            self.exit()
            return
        names = ", ".join(p.run for p in active)

        def decided(choice: str | None) -> None:
            if choice == "stop":
                self.notify(f"Stopping {names} and saving a checkpoint…")
                self._stop_and_exit()
            elif choice == "leave":
                self.training.stop_followers()
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
        self.workbench.shutdown(stop_training=True, wait=60.0)
        self.training.stop_followers()
        self.call_from_thread(self.exit)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help (F1)", "Commands and keys", self.action_help)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: ``tinygpt-tui [--models-dir D] [--data-dir D] [--run NAME]``."""
    parser = argparse.ArgumentParser(prog="tinygpt-tui", description="Train and inspect tiny GPT models in a terminal.")
    parser.add_argument("--models-dir", help="where runs live (default: ./models or $TINYGPT_MODELS)")
    parser.add_argument("--data-dir", help="where prepared datasets live (default: ./data or $TINYGPT_DATA)")
    parser.add_argument("--run", help="open this run right away (its training screen while it trains or when it "
                                      "has no weights, else the explorer)")
    parser.add_argument("--hf", metavar="ID_OR_PATH",
                        help="explore a Hugging Face causal LM right away: a hub id (gpt2) or a local folder "
                             "(needs the hf extra, and the network once per hub model)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # the entry point: flags, else $TINYGPT_MODELS/$TINYGPT_DATA, else ./models and ./data
    app = TinyGPTApp(Workspace.from_env(args.models_dir, args.data_dir), run=args.run, hf=args.hf)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
