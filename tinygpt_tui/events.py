"""Typed training events, their JSON round trip, and the one reducer that folds them into a state.

The trainer builds every event it emits from these dataclasses; each is written as one JSON line
(to its stdout and to ``metrics.jsonl``) in the wire format ::

    {"event": "step", "v": 1, "time": 1700000000.0, "step": 10, "loss": 3.21, ...}

``event`` names the kind, ``v`` is the one format version (:data:`VERSION`), ``time`` the Unix time
it was made; the other keys are the dataclass's fields. A non-finite float (a diverged loss) is
written as ``null``: JSON has no NaN.

Decoding (:func:`decode`, :func:`from_json`) is lenient where a reader should be and strict where it
must be:

- an event of a kind this version does not know (a newer trainer's, or a face's own ``log`` lines)
  decodes to ``None``, to be skipped; unknown keys are ignored;
- an event without ``v`` is read as version 1 (``metrics.jsonl`` written before the field existed);
- anything malformed (not an object, no kind, a missing field, a value of the wrong type, a newer
  ``v``) raises :class:`EventError`, a :class:`TinyGPTError` with a hint.

:func:`read` is the lenient entry for a stream: the event, or the EventError it raised, never a raise.

:class:`TrainingState` and :func:`reduce` are the training state every face renders: pure, they state
facts (``resumable``, ``reason``, where it ended), and each face words them. An unreadable event is
folded too (``problem``): training goes on, the faces say so in one sentence. No torch, no UI imports
here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .config import TinyGPTError

VERSION = 1
"""The wire format's version, written as ``"v"`` on every event."""

SAMPLES_KEPT = 10
"""How many of the latest samples :class:`TrainingState` keeps."""

WARMUP_LOGS = 2
"""Step events of a session whose speed is start-up time: its first window holds the first step (and
a compile), so the rate (and an ETA from it) means something from the second reading on."""


class EventError(TinyGPTError):
    """A training event that cannot be read (malformed JSON, a missing field, a wrong type)."""


# --------------------------------------------------------------------------------------------------
# the events


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every training event; ``kind`` is its ``"event"`` name on the wire."""

    kind: ClassVar[str] = ""
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``event``, ``v``, ``time``, then the fields; non-finite floats as None."""
        out: dict[str, Any] = {"event": self.kind, "v": VERSION}
        for f in dataclasses.fields(self):
            out[f.name] = _wire(getattr(self, f.name))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True, kw_only=True)
class Stage(Event):
    """A preparation stage (``corpus``, ``tokenizer``, ``shards``, ``model``) or ``training`` begins."""

    kind: ClassVar[str] = "stage"
    stage: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """Progress inside a preparation stage: ``done`` of ``total`` units (bytes), total None if unknown."""

    kind: ClassVar[str] = "progress"
    stage: str
    done: int
    total: int | None = None


@dataclass(frozen=True, kw_only=True)
class Start(Event):
    """Training (re)starts: the budget, the model's size and the hardware it runs on."""

    kind: ClassVar[str] = "start"
    step: int
    max_steps: int
    max_time: float | None
    params: int
    tokens_per_step: int
    device: str
    dtype: str
    resumed: bool
    compile: bool
    threads: int
    peak_flops: float
    elapsed_s: float
    world_size: int = 1
    """Training processes (DDP ranks); metrics written before the field existed read as one."""
    gpu_mem_total: int | None = None
    """The CUDA device's memory in bytes (None on other devices, and in metrics from before the field)."""


@dataclass(frozen=True, kw_only=True)
class Step(Event):
    """Every ``log_interval`` optimizer steps: loss, learning rate and throughput, measured."""

    kind: ClassVar[str] = "step"
    step: int
    loss: float | None
    lr: float
    tokens_per_s: float
    mfu: float | None
    elapsed_s: float
    eta_s: float | None
    grad_norm: float | None
    tokens: int
    threads: int
    gpu_util: float | None = None
    """The CUDA device's utilisation in percent over NVML's last sample period (None without a CUDA
    device or NVML; in metrics from before the field)."""
    gpu_mem: int | None = None
    """Bytes the trainer's CUDA allocator holds (reserved) on its device (None without one)."""


@dataclass(frozen=True, kw_only=True)
class Eval(Event):
    """Losses on fixed train and validation batches; ``best`` when validation improved."""

    kind: ClassVar[str] = "eval"
    step: int
    train_loss: float | None
    val_loss: float | None
    val_bpb: float | None
    best: bool


@dataclass(frozen=True, kw_only=True)
class Sample(Event):
    """A short text sampled after an evaluation."""

    kind: ClassVar[str] = "sample"
    step: int
    text: str


@dataclass(frozen=True, kw_only=True)
class Story(Event):
    """The run's fixed validation story scored after an evaluation (story.py): its tokens as text and
    the surprisal of each in bits (None where it was not finite), one per token."""

    kind: ClassVar[str] = "story"
    step: int
    tokens: tuple[str, ...]
    bits: tuple[float | None, ...]


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Event):
    """A checkpoint was written in folder ``path``; ``best`` when the best weights were replaced too."""

    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str
    best: bool


@dataclass(frozen=True, kw_only=True)
class Done(Event):
    """Training ended without an error.

    ``reason``: ``finished`` (max_steps reached), ``time`` (max_time spent) or ``interrupted``.
    ``resumable``: training the run again goes on from where it stopped. ``stage``: where it ended
    (``training``, or a preparation stage when stopped before training began); ``began``: whether
    training had begun. ``path``: the run's folder (its weights, its checkpoint). ``already_trained``:
    the run was asked to train when its budget (``max_steps``, or ``max_time`` seconds) was already
    spent. These are facts: each face words them (:func:`tinygpt_tui.present.ended_sentence`) and says
    what to do next. ``message`` is never written now (empty): it is the sentence trainers wrote before
    these facts existed, still read from an older run's ``metrics.jsonl`` (and an older reader of a new
    file finds the key it requires).

    The run's result, measured: ``best_val_bpb`` (best validation bits per byte), ``tokens`` seen,
    ``elapsed_s`` of training. ``undertrained``: training ended while the model was still learning
    fast, or after far fewer steps than planned; ``undertrained_why`` states the fact that says so
    (each face words the offer to continue).
    """

    kind: ClassVar[str] = "done"
    step: int
    reason: str
    resumable: bool = False
    stage: str = "training"
    began: bool = True
    run: str = ""
    path: str = ""
    already_trained: bool = False
    max_steps: int | None = None
    max_time: float | None = None
    best_val_loss: float | None = None
    best_val_bpb: float | None = None
    message: str = ""
    tokens: int | None = None
    elapsed_s: float | None = None
    undertrained: bool = False
    undertrained_why: str = ""


@dataclass(frozen=True, kw_only=True)
class Error(Event):
    """Training failed with a user-fixable problem: one sentence and a hint."""

    kind: ClassVar[str] = "error"
    message: str
    hint: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {cls.kind: cls for cls in (Stage, Progress, Start, Step, Eval, Sample,
                                                                 Story, Checkpoint, Done, Error)}


# --------------------------------------------------------------------------------------------------
# decoding


def _wire(value: Any) -> Any:
    """A field's JSON form: tuples as lists, non-finite floats (in them too) as None."""
    if isinstance(value, tuple):
        return [_wire(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _hints(cls: type[Event]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check(kind: str, name: str, value: Any, hint: Any) -> Any:
    """``value`` as the field's type, or EventError."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]: a JSON list of X
        if not isinstance(value, (list, tuple)):
            raise EventError(f"The '{kind}' event has {name}={str(value)[:40]!r}, which is not a list.",
                             "the event stream or metrics.jsonl is damaged or was written by another program.")
        return tuple(_check(kind, name, v, args[0]) for v in value)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    ok: bool
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - every field is one of the above
        ok = True
    if not ok:
        raise EventError(f"The '{kind}' event has {name}={value!r}, which is not a {hint.__name__}.",
                         "the event stream or metrics.jsonl is damaged or was written by another program.")
    return value


def decode(data: Any) -> Event | None:
    """The typed event of a decoded JSON object; None for a kind this version does not know.

    Raises EventError for anything malformed (see the module's docstring).
    """
    hint = "the event stream or metrics.jsonl is damaged or was written by another program."
    if not isinstance(data, dict):
        raise EventError(f"A training event must be a JSON object, not {type(data).__name__}.", hint)
    kind = data.get("event")
    if not isinstance(kind, str):
        raise EventError("A training event has no 'event' name.", hint)
    version = data.get("v", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EventError(f"The '{kind}' event has an invalid version {version!r}.", hint)
    if version > VERSION:
        raise EventError(f"The '{kind}' event has version {version}; this tinygpt reads version {VERSION}.",
                         "update tinygpt-tui to read events of newer trainers.")
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return None
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.name == "time":
                values["time"] = 0.0  # unknown: a hand-made event
                continue
            if f.default is not dataclasses.MISSING:
                continue
            raise EventError(f"The '{kind}' event lacks its '{f.name}' field.", hint)
        values[f.name] = _check(kind, f.name, data[f.name], hints[f.name])
    return cls(**values)


def from_json(line: str) -> Event | None:
    """:func:`decode` of one JSON line; EventError when it is not JSON."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise EventError(f"A training event is not JSON: {line[:80]!r}.",
                         "the event stream or metrics.jsonl is damaged.") from None
    return decode(data)


def read(data: dict[str, Any] | str) -> Event | EventError | None:
    """:func:`decode` (a wire dict) or :func:`from_json` (a line) where a stream enters a face or the
    supervisor: a malformed event comes back as its EventError, to be shown as one sentence (and folded
    by :func:`reduce`), instead of being raised. None for a kind this version does not know."""
    try:
        return from_json(data) if isinstance(data, str) else decode(data)
    except EventError as err:
        return err


# --------------------------------------------------------------------------------------------------
# the one reducer


@dataclass(frozen=True)
class TrainingState:
    """Everything a face shows about a run's training, folded from its events by :func:`reduce`."""

    run: str = ""
    status: str = "idle"
    """``idle`` (no event yet), ``preparing``, ``training``, ``done`` or ``error``."""
    stage: str = ""
    stage_message: str = ""
    progress_done: int | None = None
    progress_total: int | None = None
    """Progress of the current preparation stage (None when it reported none, or is over)."""
    step: int = 0
    max_steps: int | None = None
    max_time: float | None = None
    resumed: bool = False
    params: int | None = None
    tokens_per_step: int | None = None
    device: str = ""
    dtype: str = ""
    threads: int | None = None
    peak_flops: float | None = None
    world_size: int = 1
    """The session's model size and hardware (processes included), from its start event."""
    gpu_mem_total: int | None = None
    gpu_util: float | None = None
    gpu_mem: int | None = None
    """The CUDA device's memory, and its utilisation and the trainer's share at the latest step event
    (None without a CUDA device)."""
    session_step: int = 0
    session_elapsed: float = 0.0
    """Step and elapsed seconds when this training session started (the ETA's baseline)."""
    elapsed_s: float = 0.0
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    mfu: float | None = None
    tokens: int = 0
    grad_norm: float | None = None
    eta_s: float | None = None
    """Seconds left, from facts: the time budget left, or steps left at this session's mean pace."""
    train_loss: float | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    best_val_loss: float | None = None
    best_val_bpb: float | None = None
    best_step: int | None = None
    samples: tuple[tuple[int, str], ...] = ()
    """The latest samples as (step, text), oldest first, at most SAMPLES_KEPT."""
    checkpoint_step: int | None = None
    checkpoint_path: str | None = None
    reason: str | None = None
    """How it ended: finished, time, interrupted (None while going, or after an error)."""
    resumable: bool = False
    ended_in: str | None = None
    """Where a done run ended: ``training``, or the preparation stage it stopped in (None while going)."""
    done: Done | None = None
    """The done event, whose facts each face words (None while going, or after an error)."""
    message: str | None = None
    """The error event's sentence."""
    error: str | None = None
    hint: str | None = None
    problem: str | None = None
    problem_hint: str | None = None
    """The latest event that could not be read (an EventError's sentence and hint); training goes on."""
    unreadable: int = 0
    """How many events could not be read."""
    session_logs: int = 0
    """How many step events this session has sent (its first readings include start-up and compile)."""
    undertrained: bool = False
    undertrained_why: str = ""
    """From the done event: the run ended still learning fast, or far short of its plan (and why)."""
    story_step: int | None = None
    story_tokens: tuple[str, ...] = ()
    story_bits: tuple[float | None, ...] = ()
    """The latest scoring of the run's validation story: its step, tokens and surprisal per token."""
    story_prev_step: int | None = None
    story_prev_bits: tuple[float | None, ...] = ()
    """The scoring before it, of the same story (empty when there is none, or the story changed)."""

    @property
    def warming_up(self) -> bool:
        """True while this session's speed readings are start-up time (compile, first steps, caches),
        not the training's pace: until its second step event."""
        return self.status == "training" and self.session_logs < WARMUP_LOGS

    @property
    def ended(self) -> bool:
        """Training said its last word (done or error): nothing trains this state any more."""
        return self.status in ("done", "error")


def _eta(s: TrainingState) -> float | None:
    if s.max_time:
        return max(0.0, s.max_time - s.elapsed_s)
    steps, seconds = s.step - s.session_step, s.elapsed_s - s.session_elapsed
    if s.max_steps is None or steps <= 0 or seconds <= 0 or s.warming_up:
        return None
    return max(0, s.max_steps - s.step) * seconds / steps


def reduce(state: TrainingState, event: Event | EventError) -> TrainingState:
    """The state after ``event``: pure, ``state`` is left as it was.

    An EventError (an event :func:`read` could not decode) is recorded as ``problem`` and counted in
    ``unreadable``; nothing else changes.
    """
    r = dataclasses.replace
    if isinstance(event, EventError):
        return r(state, problem=event.message, problem_hint=event.hint, unreadable=state.unreadable + 1)
    ended = dict(reason=None, resumable=False, ended_in=None, done=None, message=None, error=None, hint=None)
    if isinstance(event, Stage):
        status = "training" if event.stage == "training" else "preparing"
        return r(state, status=status, stage=event.stage, stage_message=event.message, progress_done=None,
                 progress_total=None, **ended)
    if isinstance(event, Progress):
        return r(state, stage=event.stage, progress_done=event.done, progress_total=event.total)
    if isinstance(event, Start):
        s = r(state, status="training", stage="training", progress_done=None, progress_total=None,
              step=event.step, max_steps=event.max_steps, max_time=event.max_time, resumed=event.resumed,
              params=event.params, tokens_per_step=event.tokens_per_step, device=event.device,
              dtype=event.dtype, threads=event.threads, peak_flops=event.peak_flops,
              world_size=event.world_size, gpu_mem_total=event.gpu_mem_total, gpu_util=None, gpu_mem=None,
              session_step=event.step, session_elapsed=event.elapsed_s,
              elapsed_s=event.elapsed_s, session_logs=0, undertrained=False, undertrained_why="", **ended)
        return r(s, eta_s=_eta(s))
    if isinstance(event, Step):
        s = r(state, step=event.step, loss=event.loss, lr=event.lr, tokens_per_s=event.tokens_per_s,
              mfu=event.mfu, elapsed_s=event.elapsed_s, tokens=event.tokens, grad_norm=event.grad_norm,
              gpu_util=event.gpu_util, gpu_mem=event.gpu_mem, session_logs=state.session_logs + 1)
        return r(s, eta_s=_eta(s))
    if isinstance(event, Eval):
        s = r(state, step=event.step, train_loss=event.train_loss, val_loss=event.val_loss, val_bpb=event.val_bpb)
        if event.best:
            s = r(s, best_val_loss=event.val_loss, best_val_bpb=event.val_bpb, best_step=event.step)
        return s
    if isinstance(event, Sample):
        return r(state, samples=(*state.samples, (event.step, event.text))[-SAMPLES_KEPT:])
    if isinstance(event, Story):
        if event.step == state.story_step:  # a step scored again (a resume replays its last evaluation)
            return r(state, story_tokens=event.tokens, story_bits=event.bits)
        same = event.tokens == state.story_tokens
        return r(state, story_step=event.step, story_tokens=event.tokens, story_bits=event.bits,
                 story_prev_step=state.story_step if same else None,
                 story_prev_bits=state.story_bits if same else ())
    if isinstance(event, Checkpoint):
        return r(state, checkpoint_step=event.step, checkpoint_path=event.path)
    if isinstance(event, Done):
        s = r(state, status="done", step=max(state.step, event.step), reason=event.reason,
              resumable=event.resumable, ended_in=event.stage, done=event, message=None, error=None, hint=None,
              eta_s=0.0 if event.reason in ("finished", "time") else state.eta_s,
              undertrained=event.undertrained, undertrained_why=event.undertrained_why)
        if event.best_val_bpb is not None:
            s = r(s, best_val_bpb=event.best_val_bpb)
        if event.tokens is not None:
            s = r(s, tokens=max(s.tokens, event.tokens))
        if event.elapsed_s is not None:
            s = r(s, elapsed_s=max(s.elapsed_s, event.elapsed_s))
        return s
    if isinstance(event, Error):
        return r(state, status="error", reason=None, resumable=False, ended_in=None, done=None, message=event.message,
                 error=event.message, hint=event.hint)
    return state


def fold(events: Iterable[Event | EventError | dict[str, Any]], state: TrainingState | None = None) -> TrainingState:
    """:func:`reduce` over ``events`` (typed, or wire dicts that are decoded; unknown kinds skipped).

    A malformed wire dict raises EventError; :func:`read` it first to fold it as a ``problem``.
    """
    state = state if state is not None else TrainingState()
    for event in events:
        typed = decode(event) if isinstance(event, dict) else event
        if typed is not None:
            state = reduce(state, typed)
    return state
