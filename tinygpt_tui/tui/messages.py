"""Messages that cross screens: background threads post these to the app (never touching widgets).

Widget-local messages live on their widgets as nested classes (``TokenView.Selected``...); the ones
here carry work done off the event loop: training events and generated tokens.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..events import Event, EventError


class TrainingEvent(Message):
    """One event of a training run, read once by its source (a process or metrics.jsonl): a typed
    :class:`~tinygpt_tui.events.Event`, or the EventError of one that could not be read."""

    def __init__(self, run: str, event: Event | EventError, live: bool = True) -> None:
        super().__init__()
        self.run = run
        self.event = event
        self.live = live
        """False for events replayed from history (the run's metrics.jsonl at attach time)."""


class TrainingEnded(Message):
    """The watcher of a run stopped: the process exited or the followed run went quiet."""

    def __init__(self, run: str, returncode: int | None) -> None:
        super().__init__()
        self.run = run
        self.returncode = returncode


class TokensGenerated(Message):
    """A batch of token records from the generation worker (coalesced so a fast model cannot flood the UI)."""

    def __init__(self, generation: int, records: list[Any]) -> None:
        super().__init__()
        self.generation = generation
        self.records = records


class GenerationFinished(Message):
    """The generation worker ended; ``error`` holds a user-facing message when it failed."""

    def __init__(self, generation: int, error: str | None = None, tokens: int = 0, seconds: float = 0.0) -> None:
        super().__init__()
        self.generation = generation
        self.error = error
        self.tokens = tokens
        self.seconds = seconds


class RunLoaded(Message):
    """A run's model finished loading in a worker (or failed with ``error``)."""

    def __init__(self, run: str, error: str | None = None) -> None:
        super().__init__()
        self.run = run
        self.error = error


class TextScored(Message):
    """The scoring worker finished: ``result`` is a records.ScoreResult, or ``error`` a message."""

    def __init__(self, text: str, result: Any | None = None, error: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.result = result
        self.error = error
