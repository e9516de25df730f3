"""The time-lapse drawn as Rich text, for every face (the app's time-lapse view, ``tinygpt timelapse``).

A token × checkpoint heat map: one row per token of the text, one cell per checkpoint of the run's
history (oldest on the left), coloured by the project's one surprisal scale (present.py); the
checkpoint in view is marked above its column and its bits are written at the end of each row. The
text is the user's: every label goes in as text, never as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

from .present import surprisal_band, visible

if TYPE_CHECKING:  # pragma: no cover - the matrix comes from timelapse.py, which imports torch
    from .timelapse import SurprisalMatrix

LABEL = 12
"""Cells of the token column at most."""


def _label(text: str, width: int) -> str:
    label = visible(text)
    while cell_len(label) > width:
        label = label[:-2] + "…" if len(label) > 1 else ""
    return label + " " * (width - cell_len(label))


def cell_width(frames: int, width: int, label: int = LABEL) -> int:
    """Cells per checkpoint: two where they fit beside the token column and the bits, else one."""
    return 2 if label + 1 + 2 * frames + 7 <= width else 1


def heatmap(matrix: SurprisalMatrix, width: int, current: int | None = None, *,
            rows: int | None = None) -> Text:
    """The heat map of ``matrix`` in ``width`` cells; ``current`` (a frame index, default the latest)
    is marked, and its bits written beside each row. ``rows`` caps the token rows drawn (the others
    are counted). Under the rows: each frame's mean surprisal, then the first and latest step."""
    frames = len(matrix.steps)
    current = frames - 1 if current is None else current % max(1, frames)
    label = max(4, min(LABEL, max((cell_len(visible(x)) for x in matrix.labels), default=4)))
    cw = cell_width(frames, width, label)
    out = Text(no_wrap=True, overflow="crop")
    out.append(" " * (label + 1))
    for f in range(frames):
        out.append(("▼" if f == current else " ").ljust(cw), style="bold")
    out.append(f" step {matrix.steps[current]}", style="bold")
    shown = matrix.bits if rows is None else matrix.bits[:rows]
    for t, row in enumerate(shown):
        out.append("\n")
        out.append(_label(matrix.labels[t], label) + " ")
        for f, bits in enumerate(row):
            # the column in view keeps a sliver of background on its left: it stands out in any colour
            glyph = "█" * cw if f != current else ("▐" + "█" * (cw - 1) if cw > 1 else "▌")
            out.append(glyph, style=surprisal_band(bits).colour)
        out.append(f" {row[current]:5.1f}", style=surprisal_band(row[current]).colour)
    if rows is not None and len(matrix.bits) > rows:
        out.append(f"\n… {len(matrix.bits) - rows} more tokens", style="dim")
    out.append("\n" + _label("mean", label) + " ", style="bold")
    for f in range(frames):
        out.append("█" * cw, style=surprisal_band(matrix.mean(f)).colour)
    out.append(f" {matrix.mean(current):5.2f}", style="bold")
    first, last = str(matrix.steps[0]), str(matrix.steps[-1])
    gap = max(1, cw * frames - len(first) - len(last))
    out.append("\n" + " " * (label + 1) + first + (" " * gap + last if frames > 1 else ""), style="dim")
    return out
