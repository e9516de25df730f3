"""Tables whose columns are as wide as their cells from the first frame.

A DataTable's auto-width columns are fitted to new rows only when the app is next idle, and a frame
drawn before then caches the header at the old widths: the header stayed that way, one column short,
above rows drawn at the new widths (a busy machine showed it). :func:`fill` measures every cell itself
and gives each column its width before a row is added, so no frame is drawn with a stale width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.errors import MarkupError
from rich.text import Text
from textual.widgets import DataTable


def cell_width(cell: Any) -> int:
    """Terminal cells ``cell`` takes as a DataTable draws it: a Text as it is, a str as markup, a float
    with two decimals, anything else as its str."""
    if isinstance(cell, Text):
        return cell.cell_len
    if isinstance(cell, str):
        try:
            return Text.from_markup(cell).cell_len
        except MarkupError:
            return Text(cell).cell_len
    return Text(f"{cell:.2f}" if isinstance(cell, float) else str(cell)).cell_len


def set_columns(table: DataTable, columns: Sequence[tuple[str, str]], cells: Sequence[Sequence[Any]]) -> None:
    """Replace ``table``'s columns (and so its rows): ``columns`` are (label, key), each as wide as its
    label and the widest of its ``cells`` (rows of cells, one per column)."""
    table.clear(columns=True)
    for i, (label, key) in enumerate(columns):
        table.add_column(label, key=key, width=max([cell_width(label), *(cell_width(row[i]) for row in cells)]))


def fill(table: DataTable, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Replace ``table``'s columns and rows: ``columns`` are (label, key), ``rows`` (row key, cells).
    Each column is as wide as its label and its widest cell (a cell that grows later refills the table,
    rather than updating itself past its column's width)."""
    set_columns(table, columns, [cells for _, cells in rows])
    for key, cells in rows:
        table.add_row(*cells, key=key)
