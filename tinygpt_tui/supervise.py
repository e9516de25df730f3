"""Training in its own process, and following a run another process trains.

:class:`TrainingProcess` spawns ``python -m tinygpt_tui.train`` in its own session, hands it the
workspace as ``--models-dir``/``--data-dir`` flags and reads its JSON event lines from a pipe;
:class:`TrainingProcess.stop` asks it to save and exit (SIGINT). :class:`MetricsFollower` follows
``metrics.jsonl`` of a run that another process (say, ``tinygpt train`` in a second terminal) trains.
Both read each event once (:func:`events.read`) and yield it typed; an event that cannot be read
comes as its :class:`~tinygpt_tui.events.EventError`, for the face to say in one sentence. A process
also folds what it reads into its :class:`~tinygpt_tui.events.TrainingState` (``state``).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from . import events as ev
from . import runs
from .workspace import Workspace


class TrainingProcess:
    """A training run in its own process, observed through its stdout event lines.

    The child gets its own session (process group) so a Ctrl+C typed at the app's terminal does not
    reach it, and so :meth:`stop` can signal it and any helpers it starts together.
    """

    def __init__(self, run: str, workspace: Workspace, extra_args: list[str] | None = None, nproc: int = 1):
        from .distributed import launch_command

        self.run = run
        self.nproc = nproc
        self.workspace = workspace
        # stderr goes to an unnamed temporary file, not a pipe: if this app quits and leaves the run
        # training, a warning printed later cannot hit a closed pipe (stdout's BrokenPipeError is
        # handled by train.py itself; events also go to metrics.jsonl)
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self._queue: queue.Queue[ev.Event | ev.EventError | None] = queue.Queue()
        # the folders travel as flags; the event stream must arrive line by line, not in 8 KiB blocks
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # several processes: PyTorch's launcher (torchrun) starts one trainer per rank; rank 0 prints the
        # events, and :meth:`stop` signals the whole group (launcher and ranks) at once
        cmd = launch_command(nproc, ["--run", run, *workspace.as_args(), *(extra_args or [])])
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            env=env,
            start_new_session=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self.started = time.time()
        self.stop_requested = False
        self.state = ev.TrainingState(run=run)
        """Everything read so far, folded (replaced whole by the reader thread, so always consistent)."""
        self._reader = threading.Thread(target=self._read_stdout, name=f"train-{run}-stdout", daemon=True)
        self._reader.start()

    # -- reading ---------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        saw_end = False
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue  # not an event: a stray print (a library's) on stdout
            event = ev.read(line)
            if event is None:
                continue  # a kind this version does not know
            saw_end = saw_end or isinstance(event, (ev.Done, ev.Error))
            self._put(event)
        code = self.proc.wait()
        if not saw_end:
            # the process died without saying why (killed, crashed before its first event)
            tail = " | ".join(self.stderr_tail(3)) or "no output"
            self._put(ev.Error(message=f"The training process exited with code {code}.",
                               hint=f"its last words: {tail}"))
        self._queue.put(None)

    def _put(self, event: ev.Event | ev.EventError) -> None:
        self.state = ev.reduce(self.state, event)
        self._queue.put(event)

    def stderr_tail(self, lines: int = 10) -> list[str]:
        """The last non-empty lines the process wrote to stderr (warnings, a traceback)."""
        try:
            self._stderr_file.seek(0)
            text = self._stderr_file.read()[-20_000:].decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def events(self, timeout: float | None = None) -> Iterator[ev.Event | ev.EventError]:
        """Yield events as the process emits them until it exits (ends after ``timeout`` idle seconds)."""
        while True:
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                return
            if event is None:
                # let a second reader see the end too
                self._queue.put(None)
                return
            yield event

    # -- control ---------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def running(self) -> bool:
        """Still training: alive and has not said its last word (a process that sent ``done`` or
        ``error`` is only exiting, whatever its helpers take to wind down)."""
        return self.alive and not self.state.ended

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def finished(self) -> bool:
        """Every event, the end included, is queued: :meth:`events` now ends without waiting."""
        return not self._reader.is_alive()

    def stop(self, wait: float | None = None) -> None:
        """Ask the process to stop with SIGINT: it saves a checkpoint and exits 0.

        With ``wait`` seconds, block until it exits; if it does not, send SIGTERM (also a graceful
        stop) and, as a last resort, SIGKILL.
        """
        self.stop_requested = True
        self._signal(signal.SIGINT)
        if wait is None:
            return
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=max(2.0, wait / 2))
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=5)

    def _signal(self, sig: int) -> None:
        if not self.alive:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)


class MetricsFollower:
    """Follow ``metrics.jsonl`` in the run folder ``folder``, a run trained by another process.

    :meth:`events` first yields the history already in the file, then new lines as they are
    appended (polling from the last byte offset), and ends after a ``done``/``error`` event, when
    ``stop()`` is called, or when the run's training lock disappears and nothing more arrives.
    """

    def __init__(self, folder: Path, poll: float = 0.25, since_offset: int = 0):
        self.folder = Path(folder)
        self.run = self.folder.name
        self.poll = poll
        self.offset = since_offset
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def events(self, follow: bool = True) -> Iterator[ev.Event | ev.EventError]:
        idle_since = time.monotonic()
        while not self._stop.is_set():
            events, self.offset = runs.read_metrics(self.folder, since_offset=self.offset)
            for wire in events:
                event = ev.read(wire)
                if event is None:
                    continue
                yield event
                if follow and isinstance(event, (ev.Done, ev.Error)):
                    return
            if not follow:
                return
            if events:
                idle_since = time.monotonic()
            elif not runs.is_training(self.folder) and time.monotonic() - idle_since > 2.0:
                # the owner is gone and has said nothing for a while: it was killed
                return
            self._stop.wait(self.poll)
