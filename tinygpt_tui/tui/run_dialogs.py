"""The dialogs around a run's life in the app: the new-run form, the quick start, renaming and
deleting a run (after a confirmation), and asking which Hugging Face model to open.

Screens and slash commands reach them as ``app.dialogs``; the app itself only routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import TinyGPTError
from ..forms import quick_start_config
from .screens.confirm import AskTextScreen, ChoiceScreen
from .screens.new_run import NewRunResult, NewRunScreen

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from .app import TinyGPTApp


class RunDialogs:
    """The app's run dialogs; each asks (a form, a question, a confirmation) and then acts."""

    def __init__(self, app: TinyGPTApp) -> None:
        self.app = app

    def ask_hf(self) -> None:
        """Ask for a hub id or a local folder, then open it as ``--hf`` does (escape: nothing)."""
        def answered(source: str | None) -> None:
            if source is not None:
                self.app.load_hf(source.strip())  # an empty answer gets open_hf's one sentence

        self.app.push_screen(AskTextScreen(
            "Open a Hugging Face causal language model: a hub id (needs the network once, then the cache) "
            "or a local folder with config.json, weights and tokenizer.",
            placeholder="gpt2, roneneldan/TinyStories-1M or ./my-model-folder", ok="Open"), answered)

    def new_run(self) -> None:
        """Open the new-run form; create the run it returns (and start training when asked)."""
        def created(result: NewRunResult | None) -> None:
            if result is None:
                return
            try:
                self.app.workbench.create_run(result.config)
            except (TinyGPTError, OSError) as err:  # a read-only models folder, a full disk: a sentence
                self.app.say_error(err)
                return
            self.app.refresh_runs()
            self.app.show_training(result.config.name, start=result.train, nproc=result.nproc)

        self.app.push_screen(NewRunScreen(self.app.workbench.run_names()), created)

    def quick_start(self) -> None:
        """Create run 'quick' (preset tiny, storybook corpus) if needed, train it, then explore it."""
        cfg = quick_start_config()
        if not self.app.workbench.run_exists(cfg.name):
            try:
                self.app.workbench.create_run(cfg)
            except (TinyGPTError, OSError) as err:
                self.app.say_error(err)
                return
        self.app.explore_when_done.add(cfg.name)
        self.app.show_training(cfg.name, start=True)

    def _leave(self, run: str) -> None:
        """A run was renamed or deleted: a screen still showing it under its old name goes back to the
        runs (the explorer's model stays loaded, under the new name)."""
        shown = getattr(self.app.screen, "run", None)
        if shown == run and len(self.app.screen_stack) > 1:
            self.app.show_runs()

    def rename(self, old: str, new: str | None = None) -> None:
        """Rename run ``old`` to ``new``; without ``new``, ask for it in a dialog first."""
        from ..config import valid_run_name

        if new is None:
            if not self.app.workbench.run_exists(old):
                self.app.say(f"There is no run named '{old}'. Hint: the runs screen lists them.", error=True)
                return

            def check(text: str) -> str | None:
                if not valid_run_name(text):
                    return "Use letters, digits, '-', '_' or '.', starting with a letter or digit."
                if text != old and (self.app.workbench.models_dir / text).exists():
                    return f"The name '{text}' is taken."
                return None

            def answered(text: str | None) -> None:
                if text and text != old:
                    self.rename(old, text)

            self.app.push_screen(AskTextScreen(f"Rename run '{old}' to:", old, ok="Rename", check=check), answered)
            return
        try:
            self.app.workbench.rename_run(old, new)
        except (TinyGPTError, OSError) as err:
            self.app.say_error(err)
            return
        if self.app.current_run == old:
            self.app.current_run = new
        self._leave(old)
        self.app.refresh_runs()
        self.app.say(f"Renamed run {old} to {new}.")

    def delete(self, run: str) -> None:
        """Ask, then delete ``run`` and its files; refused (with why) for the loaded run and a run in
        training, before anything is asked."""
        from ..units import human_bytes

        workbench = self.app.workbench
        try:
            if workbench.loaded and workbench.run_name == run:
                raise TinyGPTError(f"Run '{run}' is open in the explorer, so it cannot be deleted.",
                                   "load another run first (/load RUN), then delete this one.")
            if workbench.is_training(run):
                raise TinyGPTError(f"Run '{run}' is being trained, so it cannot be deleted.",
                                   "stop its training first (x on its training screen, or /stop).")
            size = workbench.run_footprint(run)
        except (TinyGPTError, OSError) as err:
            self.app.say_error(err)
            return

        def decided(choice: str | None) -> None:
            if choice != "delete":
                self.app.say(f"Kept run {run}.")
                return
            try:
                workbench.delete_run(run)
            except (TinyGPTError, OSError) as err:
                self.app.say_error(err)
                return
            if self.app.current_run == run:
                self.app.current_run = None
            self._leave(run)
            self.app.refresh_runs()
            self.app.say(f"Deleted run {run} ({size.files} files, {human_bytes(size.bytes)}).")

        self.app.push_screen(
            ChoiceScreen(f"Delete run '{run}' and its {size.files} files ({human_bytes(size.bytes)})?\n\n"
                         "Its weights, checkpoints and metrics are removed; this cannot be undone.",
                         # Keep first, so that a stray enter keeps the run
                         [("keep", "Keep it", "primary"), ("delete", "Delete", "error")]),
            decided,
        )
