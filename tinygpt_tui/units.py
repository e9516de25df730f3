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


def human_bytes(n: int) -> str:
    """1_500_000 -> '1.5 MB', 980 -> '980 B' (decimal units, as parse_size reads them)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def duration(seconds: float | None) -> str:
    """95 -> '1m35s', 4000 -> '1h06m', 7 -> '7s'; None -> '-'."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """A training budget as typed: '500' or '500 steps' -> (500, None); '90s', '2m', '1.5h',
    '2 min' -> (None, seconds). ValueError for anything else (or a non-positive amount)."""
    t = text.strip().lower().replace(" ", "")
    for suffix in ("steps", "step"):
        if t.endswith(suffix):
            t = t[: -len(suffix)]
            break
    else:
        for units, scale in ((("hours", "hour", "h"), 3600.0), (("minutes", "minute", "min", "m"), 60.0),
                             (("seconds", "second", "sec", "s"), 1.0)):
            for unit in units:
                if t.endswith(unit):
                    amount = float(t[: -len(unit)])
                    if not math.isfinite(amount) or amount <= 0:
                        raise ValueError(text)
                    return None, amount * scale
    steps = int(t.replace(",", "").replace("_", ""))
    if steps <= 0:
        raise ValueError(text)
    return steps, None
