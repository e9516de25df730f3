"""Curves a reader can read: smoothing, the x axis a curve is drawn against, and a y range that the
first unstable steps do not squash.

Ground layer, pure Python: the app's charts and ``tinygpt compare`` ask the same functions, so a
smoothed curve looks the same in both.

- :func:`smooth`: exponential smoothing, debiased (the first points are not pulled towards zero);
- :func:`interpolate`: a value at a step between two measured steps (an evaluation's tokens seen or
  wall time, which only step events carry);
- :func:`y_range`: the y limits of a loss curve with its first unstable points left out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

SMOOTHING = 0.8
"""The default weight of the past in :func:`smooth` (TensorBoard's 0.6 is too jumpy for small batches)."""
UNSTABLE = 0.1
"""The fraction of a curve's first points :func:`y_range` leaves out (the untrained model's loss is
three times the trained one's: kept in, it flattens everything after it)."""

AXES = ("step", "tokens", "time")
"""What a loss curve can be drawn against, in the order a key cycles them."""


def _finite(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def smooth(values: Sequence[float | None], weight: float = SMOOTHING) -> list[float | None]:
    """Debiased exponential moving average of ``values``: ``m_t = w·m_{t-1} + (1-w)·x_t`` from
    ``m_0 = 0``, divided by ``1 - w^t`` so that a constant series stays that constant from its first
    point. A value that is not finite (a missing reading) gives None and leaves the average alone."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
    out: list[float | None] = []
    mean, seen = 0.0, 0
    for v in values:
        if not _finite(v):
            out.append(None)
            continue
        seen += 1
        mean = weight * mean + (1.0 - weight) * float(v)  # type: ignore[arg-type]
        out.append(mean / (1.0 - weight ** seen))
    return out


def interpolate(points: Mapping[int, float], step: int) -> float | None:
    """The value at ``step`` read off measured ``points`` (step -> value), linear between the two
    around it; the first or last point's value outside them (a straight line would invent numbers);
    None when there are no points. Step 0 is 0 (no tokens seen, no time spent) unless measured."""
    if step in points:
        return points[step]
    known = sorted(points)
    if not known:
        return None
    if step < known[0]:
        if step == 0:
            return 0.0
        lo_step, lo = 0, 0.0
        hi_step, hi = known[0], points[known[0]]
        return lo + (hi - lo) * (step - lo_step) / (hi_step - lo_step)
    if step > known[-1]:
        return points[known[-1]]
    i = bisect.bisect_left(known, step)
    a, b = known[i - 1], known[i]
    return points[a] + (points[b] - points[a]) * (step - a) / (b - a)


def y_range(values: Sequence[float | None], *, skip: float = UNSTABLE, log: bool = False,
            pad: float = 0.05) -> tuple[float, float] | None:
    """(low, high) y limits of ``values`` without the first ``skip`` of them (at least one once there
    are five, none with ``skip=0``), padded by ``pad`` of the span; on a log scale only positive values count. None when
    nothing is left to bound."""
    finite = [float(v) for v in values if _finite(v) and (not log or v > 0)]  # type: ignore[operator]
    if len(finite) >= 5 and skip > 0:
        finite = finite[max(1, math.ceil(len(finite) * skip)):]
    if not finite:
        return None
    lo, hi = min(finite), max(finite)
    if log:
        a, b = math.log10(lo), math.log10(hi)
        span = (b - a) or 0.1
        return 10 ** (a - pad * span), 10 ** (b + pad * span)
    span = (hi - lo) or max(abs(hi) * 0.1, 1e-3)
    return lo - pad * span, hi + pad * span
