"""Runs side by side: each run's metrics read into the same shape, so that a face can table them and
draw their validation curves on one chart (``tinygpt compare``).

A run's figures come from its ``metrics.jsonl`` folded by the one reducer (events.py), so they are
what its training screen showed: preset and parameters, tokens seen, best validation bits per byte,
training time. Its validation curve is bits per byte at each evaluation, against the step and the
tokens seen then (read off the step events between which the evaluation fell: curves.interpolate).
Tokens are the fair x axis across runs: runs with different batches see different text per step.
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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "preset": self.preset, "params": self.params, "tokens": self.tokens,
                "best_val_bpb": self.best_val_bpb, "elapsed_s": self.elapsed_s, "steps": self.steps,
                "val": [{"step": s, "tokens": t, "val_bpb": b} for s, t, b in self.val],
                "unreadable": self.unreadable}


def run_series(models: Path, name: str) -> RunSeries:
    """Run ``name`` of ``models`` as a :class:`RunSeries`; TinyGPTError (with a hint) when there is no
    such run."""
    run = runs.run_dir(models, name)
    if not runs.run_exists(run):
        raise TinyGPTError(f"There is no run named '{name}' in {models}.",
                           "list the runs with `tinygpt-tui` or `ls` the models folder; names are case-sensitive.")
    cfg = runs.load_run_config(run)
    raw, _ = runs.read_metrics(run)
    state = events.TrainingState(run=name)
    tokens_at: dict[int, float] = {}
    bpb_at: dict[int, float] = {}
    for wire in raw:
        event = events.read(wire)
        if event is None:
            continue
        state = events.reduce(state, event)
        if isinstance(event, events.Step):
            tokens_at[event.step] = float(event.tokens)
        elif isinstance(event, events.Eval) and event.val_bpb is not None:
            bpb_at[event.step] = event.val_bpb  # a step evaluated twice (after a resume): its latest
    val = tuple((s, float(interpolate(tokens_at, s) or 0.0), bpb_at[s]) for s in sorted(bpb_at))
    best = state.best_val_bpb if state.best_val_bpb is not None else min(bpb_at.values(), default=None)
    return RunSeries(name=name, preset=cfg.preset, params=state.params if state.params is not None
                     else runs.estimate_params(cfg.model), tokens=state.tokens, best_val_bpb=best,
                     elapsed_s=state.elapsed_s, steps=state.step, val=val, unreadable=state.unreadable)


def compare_runs(models: Path, names: list[str]) -> list[RunSeries]:
    """:func:`run_series` of each name, in the order given; a name given twice is compared once."""
    if not names:
        raise TinyGPTError("Name at least one run to compare.", "tinygpt compare RUN RUN...")
    return [run_series(models, n) for n in dict.fromkeys(names)]
