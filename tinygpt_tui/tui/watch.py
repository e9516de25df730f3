"""Training supervision for the app: start, stop and watch runs; their events become messages.

Each watched run has a source of events: a :class:`~tinygpt_tui.supervise.TrainingProcess` this app
started, or a :class:`~tinygpt_tui.supervise.MetricsFollower` of a run another process trains. Each
source reads every event once and yields it typed (or as the EventError of one it cannot read). A
Textual thread worker per run (the pump) posts them as :class:`~tinygpt_tui.tui.messages.TrainingEvent`
messages for the app, then posts :class:`~tinygpt_tui.tui.messages.TrainingEnded`; the training screen
folds them into its :class:`~tinygpt_tui.events.TrainingState`. The pump never touches a widget.

When the app exits its workers are cancelled: a pump stops reading (the training itself goes on if
the user chose to leave it running) so that quitting never waits on a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.worker import get_current_worker

from ..config import TinyGPTError
from ..supervise import MetricsFollower, TrainingProcess
from .messages import TrainingEnded, TrainingEvent

if TYPE_CHECKING:
    from .app import TinyGPTApp

POLL_SECONDS = 0.25
"""How often a pump of a training process looks up from its queue to see whether it was cancelled."""


class TrainingWatch:
    """The runs this app trains or watches, by name."""

    def __init__(self, app: TinyGPTApp) -> None:
        self.app = app
        self._sources: dict[str, TrainingProcess | MetricsFollower] = {}

    def __contains__(self, run: str) -> bool:
        return run in self._sources

    def start(self, run: str, nproc: int = 1) -> None:
        """Start (or resume) training ``run`` in its own process (``nproc`` processes: DDP through
        torchrun) and watch it."""
        app = self.app
        try:
            proc = app.workbench.start_training(run, nproc=nproc)
        except (TinyGPTError, OSError) as err:  # OSError: the run's folder cannot be written
            app.say_error(err)
            return
        if self._sources.get(run) is not proc:
            self.watch(run, proc)
        where = f"process {proc.proc.pid}" if nproc == 1 else f"{nproc} processes (torchrun {proc.proc.pid})"
        app.say(f"Training {run} in {where}. /stop (or x) stops it and saves a checkpoint.")
        app.refresh_runs()

    def stop(self, run: str | None = None) -> None:
        """Stop this app's training of ``run`` (default: the current run); it saves a checkpoint."""
        app = self.app
        run = run or app.current_run
        if run is None:
            app.say("No run is selected. Hint: /stop works on the run the training screen shows.", error=True)
            return
        if app.workbench.stop_training(run):
            app.say(f"Stopping {run}: it saves a checkpoint and exits.")
        elif app.workbench.is_training(run):
            pid = app.workbench.training_pid(run)
            app.say(f"{run} is trained by process {pid}, which this app may not stop. "
                    f"Hint: kill -INT {pid} (as its user) stops it and saves a checkpoint.", error=True)
        else:
            app.say(f"{run} is not training.", error=True)

    def attach(self, run: str) -> None:
        """Follow a run another process trains (its metrics.jsonl), from the current end of the file."""
        workbench = self.app.workbench
        _, offset = workbench.read_metrics(run)
        self.watch(run, workbench.attach(run, since_offset=offset))
        self.app.say(f"Watching {run}, trained by another process.")

    def ended(self, run: str) -> None:
        """The pump of ``run`` is done (its TrainingEnded arrived)."""
        self._sources.pop(run, None)

    def stop_followers(self) -> None:
        """Stop following runs other processes train (their pumps end)."""
        for source in self._sources.values():
            if isinstance(source, MetricsFollower):
                source.stop()

    def watch(self, run: str, source: TrainingProcess | MetricsFollower) -> None:
        """Post ``source``'s events as messages from a worker thread (replacing a follower of ``run``)."""
        old = self._sources.get(run)
        if isinstance(old, MetricsFollower):
            old.stop()
        self._sources[run] = source
        self.app.run_worker(lambda: self._pump(run, source), name=f"watch-{run}", group=f"watch-{run}",
                            thread=True, exit_on_error=False)

    def _pump(self, run: str, source: TrainingProcess | MetricsFollower) -> None:
        """Worker thread: post ``source``'s events until it ends (or the app cancels the worker)."""
        worker = get_current_worker()
        app = self.app
        if isinstance(source, MetricsFollower):
            # a follower ends by itself (done, error, its owner gone) or when stopped (on exit too)
            for event in source.events():
                if worker.is_cancelled:
                    return
                app.post_message(TrainingEvent(run, event))
            if not worker.is_cancelled:
                app.post_message(TrainingEnded(run, None))
            return
        while not worker.is_cancelled:
            for event in source.events(timeout=POLL_SECONDS):
                app.post_message(TrainingEvent(run, event))
            if source.finished:
                # everything the process said is queued, its end included: read the rest
                for event in source.events(timeout=POLL_SECONDS):
                    app.post_message(TrainingEvent(run, event))
                app.post_message(TrainingEnded(run, source.returncode))
                return
