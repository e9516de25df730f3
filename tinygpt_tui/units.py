"""Human-readable numbers shared by the faces (command line, REPL, app)."""

from __future__ import annotations

import math


def human_count(n: float | None) -> str:
    """12345678 -> '12.3M', 950 -> '950'; None -> '-'."""
    if n is None or not math.isfinite(n):
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def duration(seconds: float | None) -> str:
    """95 -> '1m35s', 4000 -> '1h06m', 7 -> '7s'; None -> '-'."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
