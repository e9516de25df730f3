"""A run's checkpoint history: weights-only copies of past evaluations, thinned to a bound.

At each evaluation the trainer (rank 0) writes ``history/step-000000123.safetensors`` (the weights
format of :mod:`checkpoint`, with the step, tokens seen and validation loss in its header, written
atomically), then thins the folder to at most ``train.history`` files with :func:`thin`: the first
and the latest are always kept, and the others keep power-of-two spacing, so that over a run of any
length the kept steps stay spread across all of it instead of bunching at the start or the end. The time-lapse (timelapse.py) reads them back.

Nothing here touches the resume point or draws a random number: writing the history changes neither
exact resume nor what a ``kill -9`` leaves (a frame is there whole or not at all; a thinning cut short
is finished by the next one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import checkpoint, runs
from .atomic import remove_orphaned_temp_files
from .runs import WEIGHTS_FORMAT

if TYPE_CHECKING:  # pragma: no cover
    from .model import GPT


@dataclass(frozen=True)
class Frame:
    """One checkpoint of the history."""

    step: int
    tokens: int | None
    """Training tokens seen at that step (None when its header does not say)."""
    val_loss: float | None
    """Validation loss measured at that step (None when unknown)."""
    path: Path
    bytes: int


def _level(step: int) -> int:
    """How many times 2 divides ``step``: evaluations every ``k`` steps have levels that repeat like
    those of 1, 2, 3, ... shifted by ``k``'s own, so keeping the highest levels keeps power-of-two
    spacing."""
    return (step & -step).bit_length() - 1 if step > 0 else 64


def thin(steps: Sequence[int], bound: int) -> list[int]:
    """The steps to keep of ``steps`` so that at most ``bound`` remain (``bound`` 0 keeps none).

    The oldest and the newest always stay. While there are too many, an inner step goes: the one of
    the lowest power-of-two level (a step divisible by 4 outranks one divisible only by 2), the oldest
    of equals. Evaluations every ``k`` steps then keep power-of-two spacing: over a run of any length
    the kept steps cover the whole of it, no gap more than about twice another (a gap at the newest
    end aside, which the next evaluations fill).
    """
    kept = sorted(set(int(s) for s in steps))
    if bound <= 0:
        return []
    if bound == 1:
        return kept[-1:]
    while len(kept) > bound:
        i = min(range(1, len(kept) - 1), key=lambda j: (_level(kept[j]), kept[j]))
        del kept[i]
    return kept


def frame_path(run: Path, step: int) -> Path:
    return run / runs.HISTORY / f"step-{int(step):09d}.safetensors"


def save_frame(run: Path, model: GPT, *, step: int, tokens: int, val_loss: float | None, bound: int) -> list[int]:
    """Add the model's weights at ``step`` to the run's history, then thin it to ``bound`` checkpoints.
    Returns the steps kept."""
    if bound <= 0:
        return [s for s, _ in runs.history_files(run)]
    folder = run / runs.HISTORY
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temp_files(folder)  # left by a trainer killed while it wrote a frame
    checkpoint.save_weights(frame_path(run, step), model, step=step, val_loss=val_loss, tokens=tokens)
    files = runs.history_files(run)
    keep = set(thin([s for s, _ in files], bound))
    for s, path in files:
        if s not in keep:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
    return sorted(keep)


def _number(meta: dict[str, str], key: str, kind: type) -> int | float | None:
    try:
        return kind(meta[key]) if meta.get(key) else None
    except ValueError:
        return None


def frames(run: Path) -> list[Frame]:
    """The run's history, oldest first, read from the files' headers (a file that is not a weights file
    of this project is left out)."""
    out = []
    for step, path in runs.history_files(run):
        meta = runs.read_safetensors_metadata(path)
        if not meta or meta.get("format") != WEIGHTS_FORMAT:
            continue
        try:
            size = path.stat().st_size
        except OSError:  # thinned away meanwhile
            continue
        out.append(Frame(step=step, tokens=_number(meta, "tokens", int), val_loss=_number(meta, "val_loss", float),
                         path=path, bytes=size))
    return out


def load_frame(model: GPT, frame: Frame) -> GPT:
    """Put the weights of ``frame`` into ``model`` (built with the run's configuration); returns it."""
    tensors, _ = checkpoint.read_safetensors(frame.path, WEIGHTS_FORMAT)
    checkpoint.load_weights_into(model, tensors, frame.path)
    return model
