"""Tables whose columns are as wide as their cells from the first frame.

A DataTable's auto-width columns are fitted to new rows only when the app is next idle, and a frame
drawn before then caches the header at the old widths: the header stayed that way, one column short,
above rows drawn at the new widths (a busy machine showed it). :func:`fill` measures every cell itself
and gives each column its width before a row is added, so no frame is drawn with a stale width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


def cell_width(cell: Any) -> int:
    """Terminal cells ``cell`` takes (a Text as it is, anything else as its str)."""
    return cell.cell_len if isinstance(cell, Text) else Text(str(cell)).cell_len


def fill(table: DataTable, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Replace ``table``'s columns and rows: ``columns`` are (label, key), ``rows`` (row key, cells).
    Each column is as wide as its label and its widest cell (a cell that changes later refills the
    table, rather than updating itself past its column's width)."""
    table.clear(columns=True)
    for i, (label, key) in enumerate(columns):
        width = max([cell_width(label), *(cell_width(cells[i]) for _, cells in rows)])
        table.add_column(label, key=key, width=width)
    for key, cells in rows:
        table.add_row(*cells, key=key)
