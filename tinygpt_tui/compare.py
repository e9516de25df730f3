"""Runs side by side: each run's metrics read into the same shape, so that a face can table them and
draw their validation curves on one chart (``tinygpt compare``).

A run's figures come from its ``metrics.jsonl`` folded by the one reducer (events.py), so they are
what its training screen showed: preset and parameters, tokens seen, best validation bits per byte,
training time. Its validation curve is bits per byte at each evaluation, against the step and the
tokens seen then (read off the step events between which the evaluation fell: curves.interpolate).
Tokens are the fair x axis across runs: runs with different batches see different text per step.

A run that is still training grows: :class:`SeriesReader` reads its metrics from where it left off
and folds only the new events, so that a face can follow it (the app's compare screen does, once a
second); :func:`run_series` is one full read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import events, runs
from .config import TinyGPTError
from .curves import interpolate


@dataclass(frozen=True)
class RunSeries:
    """One run, ready to compare."""

    name: str
    preset: str
    params: int | None
    tokens: int
    best_val_bpb: float | None
    elapsed_s: float
    steps: int
    val: tuple[tuple[int, float, float], ...]
    """(step, tokens seen, validation bits per byte) at each evaluation, in step order."""
    unreadable: int = 0
    """Lines of its metrics that could not be read (skipped)."""
    train: tuple[tuple[int, float], ...] = ()
    """(step, training loss) at each step event, in step order: nats per token, comparable between runs
    of one tokenizer only."""
    clock: tuple[tuple[int, float, float], ...] = ()
    """(step, tokens seen, elapsed seconds) at each step event: the other x axes of any step."""
    training: bool = False
    """Whether a process held the run's training lock when it was read (its curves still grow)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "preset": self.preset, "params": self.params, "tokens": self.tokens,
                "best_val_bpb": self.best_val_bpb, "elapsed_s": self.elapsed_s, "steps": self.steps,
                "val": [{"step": s, "tokens": t, "val_bpb": b} for s, t, b in self.val],
                "unreadable": self.unreadable}


class SeriesReader:
    """Run ``name`` of ``models`` read incrementally: :meth:`read` folds the events appended to its
    metrics since the last read (through the one reducer), :meth:`series` is the run as it stands.
    TinyGPTError (with a hint) when there is no such run."""

    def __init__(self, models: Path, name: str) -> None:
        self.folder = runs.run_dir(models, name)
        if not runs.run_exists(self.folder):
            raise TinyGPTError(f"There is no run named '{name}' in {models}.",
                               "list the runs with `tinygpt-tui` or `ls` the models folder; names are case-sensitive.")
        self.name = name
        self.cfg = runs.load_run_config(self.folder)
        self.offset = 0
        """The byte of metrics.jsonl the next read starts from."""
        self.state = events.TrainingState(run=name)
        self._tokens: dict[int, float] = {}
        self._seconds: dict[int, float] = {}
        self._loss: dict[int, float] = {}
        self._bpb: dict[int, float] = {}

    def read(self) -> bool:
        """Fold the events appended since the last read; True when there were any."""
        raw, self.offset = runs.read_metrics(self.folder, since_offset=self.offset)
        for wire in raw:
            event = events.read(wire)
            if event is None:
                continue
            self.state = events.reduce(self.state, event)
            if isinstance(event, events.Step):
                self._tokens[event.step] = float(event.tokens)
                self._seconds[event.step] = event.elapsed_s
                if event.loss is not None:
                    self._loss[event.step] = event.loss
            elif isinstance(event, events.Eval) and event.val_bpb is not None:
                self._bpb[event.step] = event.val_bpb  # a step evaluated twice (after a resume): its latest
        return bool(raw)

    def series(self) -> RunSeries:
        state, bpb_at = self.state, self._bpb
        val = tuple((s, float(interpolate(self._tokens, s) or 0.0), bpb_at[s]) for s in sorted(bpb_at))
        best = state.best_val_bpb if state.best_val_bpb is not None else min(bpb_at.values(), default=None)
        return RunSeries(name=self.name, preset=self.cfg.preset,
                         params=state.params if state.params is not None else runs.estimate_params(self.cfg.model),
                         tokens=state.tokens, best_val_bpb=best, elapsed_s=state.elapsed_s, steps=state.step,
                         val=val, unreadable=state.unreadable,
                         train=tuple((s, self._loss[s]) for s in sorted(self._loss)),
                         clock=tuple((s, self._tokens[s], self._seconds[s]) for s in sorted(self._tokens)),
                         training=runs.is_training(self.folder))


def run_series(models: Path, name: str) -> RunSeries:
    """Run ``name`` of ``models`` as a :class:`RunSeries`; TinyGPTError (with a hint) when there is no
    such run."""
    reader = SeriesReader(models, name)
    reader.read()
    return reader.series()


def compare_runs(models: Path, names: list[str]) -> list[RunSeries]:
    """:func:`run_series` of each name, in the order given; a name given twice is compared once."""
    if not names:
        raise TinyGPTError("Name at least one run to compare.", "tinygpt compare RUN RUN...")
    return [run_series(models, n) for n in dict.fromkeys(names)]
