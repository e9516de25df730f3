"""How a training run ended, as facts: the ``done`` summary, whether it is under-trained, and the
sentence when the loss or the weights stop being numbers.

The trainer (train.py) measures; this module turns what it measured into the ``done`` event every
face words (``undertrained``, ``best_val_bpb``, the one-line message) and into the error that stops a
diverged run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from . import runs
from .config import TinyGPTError
from .events import Done

STILL_FALLING = 0.02
"""A validation loss that fell by more than this share over the last evaluation interval was still
falling fast: the run ended while the model was learning (under-trained)."""

SHORT_OF_PLAN = 0.5
"""A time-budget run that did fewer than this share of its planned ``max_steps`` is under-trained."""


def undertrained(val_history: list[tuple[int, float]], step: int, tc: Any, decay_step: int | None = None) -> str:
    """Why a run that ended at ``step`` is under-trained, from what the trainer measured, or "".

    ``val_history``: (step, validation loss) of its evaluations, oldest first. Two facts say so: the
    validation loss still fell fast over the last evaluation interval (more than STILL_FALLING of its
    value), or a time budget ended after less than SHORT_OF_PLAN of the planned steps (a slow or busy
    machine). With a warmup-stable-decay schedule the loss falls fastest in the decay, by design:
    only evaluations up to ``decay_step`` (where the decay began) say whether it was still learning fast.
    """
    if tc.max_time and step < SHORT_OF_PLAN * tc.max_steps:
        return f"it ran {step:,} of the {tc.max_steps:,} steps planned in its {tc.max_time:g} s budget"
    finite = [(s, v) for s, v in val_history if v is not None and math.isfinite(v)
              and (decay_step is None or s <= decay_step)]
    if len(finite) >= 2:
        (s0, v0), (s1, v1) = finite[-2], finite[-1]
        if v0 > 0 and s1 > s0 and (v0 - v1) / v0 > STILL_FALLING:
            return (f"the validation loss was still falling fast: {v0:.3f} at step {s0:,}, "
                    f"{v1:.3f} at step {s1:,}")
    return ""


def finished(run: Path, reason: str, step: int, elapsed: float, tokens: int, tc: Any,
             val_history: list[tuple[int, float]], best_val_loss: float | None,
             best_val_bpb: float | None, decay_step: int | None = None) -> Done:
    """The ``done`` event of a run whose budget is spent (``reason``: ``finished`` or ``time``)."""
    why = undertrained(val_history, step, tc, decay_step)
    return Done(step=step, reason=reason, path=str(run), best_val_loss=best_val_loss, best_val_bpb=best_val_bpb,
                tokens=tokens, elapsed_s=elapsed, undertrained=bool(why), undertrained_why=why)


def already_trained(name: str, reason: str, step: int, tc: Any) -> Done:
    """The ``done`` event of a run asked to train when its budget was already spent."""
    return Done(step=step, reason=reason, run=name, already_trained=True, max_steps=tc.max_steps,
                max_time=tc.max_time)


def diverged(run: Path, value: float, step: int, what: str = "loss") -> TinyGPTError:
    """The error that stops a run whose ``what`` became ``value`` at ``step`` (1-based)."""
    kept = runs.state_summary(run)
    where = f"the checkpoint of step {kept['step']} is kept" if kept else "no checkpoint was written"
    return TinyGPTError(f"The {what} became {value} at step {step}, so training stopped; {where}.",
                        "lower the learning rate (--lr) or train in float32 (--dtype float32), then resume.")
