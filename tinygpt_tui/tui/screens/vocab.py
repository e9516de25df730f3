"""The vocabulary explorer (/tokens): statistics and a searchable, sortable table of every token, with
its count in the training shards and how under-trained its weights look (undertrained.py)."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Header, Input, Static

from ...config import TinyGPTError
from ...present import error_line
from ...undertrained import EXPLANATION
from ...vocab import histogram_rows
from ..widgets.footer import WorkbenchFooter
from ..widgets.sized_columns import set_columns
from .base import AppScreen

Row = tuple[int, str, str, int, "int | None", "float | None", "float | None", "float | None"]
"""id, piece, hex, bytes, count in the shards, under-trained score, embedding ratio, head ratio."""

COLUMNS = (("id", "id"), ("piece", "piece"), ("hex", "hex"), ("bytes", "len"), ("count in shards", "freq"),
           ("under-trained", "under"), ("emb/med", "emb"), ("head/med", "head"))
"""(label, key) in Row order. Hex before the counts: a narrow terminal crops the last columns, and hex
is what a piece is."""
DESCENDING = {"len", "freq", "under"}
"""Columns sorted largest first; the ratios sort smallest (most under-trained) first."""


def matches(row: Row, query: str) -> bool:
    """Does ``row`` match the search: an id (``#12`` or ``12``), hex bytes, or a piece substring."""
    q = query.strip()
    if not q:
        return True
    tid, piece, hx = row[0], row[1], row[2]
    if q.startswith("#") and q[1:].isdigit():
        return tid == int(q[1:])
    if q.isdigit() and tid == int(q):
        return True
    low = q.lower()
    return low in piece.lower() or low in hx or low.replace(" ", "Ġ") in piece.lower()


def stats_table(stats: dict[str, Any]) -> Table:
    """Render vocab_stats' flat numbers as a two-column table (lists are summarised)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", justify="right")
    grid.add_column()
    for key, value in stats.items():
        label = key.replace("_", " ")
        if isinstance(value, float):
            text = "-" if not math.isfinite(value) else f"{value:,.3f}"
        elif isinstance(value, int):
            text = f"{value:,}"
        elif key == "length_histogram":  # every row, folded as every face folds it (vocab.py)
            text = ", ".join(f"{n}: {count}" for n, count in histogram_rows(value))
        elif isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in list(value.items())[:8])
        elif isinstance(value, (list, tuple)):
            text = ", ".join(_short(v) for v in value[:8]) + (" …" if len(value) > 8 else "")
        elif value is None:
            text = "-"
        elif key in ("fingerprint", "shards", "shards_dir"):
            text = _tail(str(value), 32)
        else:
            text = str(value)
        grid.add_row(label, Text(text))
    return grid


def _tail(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _cells(row: Row) -> tuple[Any, ...]:
    """The table's cells of one token, in COLUMNS order (the piece as text, never markup)."""
    tid, piece, hx, length, freq, under, emb, head = row

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return (tid, Text(piece), hx, length, "-" if freq is None else f"{freq:,}", number(under), number(emb),
            number(head))


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return str(v.get("piece", v.get("text", v)))
    if isinstance(v, (list, tuple)) and v:
        return str(v[0]) if len(v) == 1 else f"{v[0]}:{v[1]}"
    return str(v)


class VocabScreen(AppScreen):
    """Statistics on the left; on the right a search box over a table of id, piece, hex, length, count."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+f", "search", "Search"),
    ]

    def __init__(self, run: str) -> None:
        super().__init__()
        self.run = run
        self.rows: list[Row] = []
        self.shown: list[Row] = []
        self._cells: dict[int, tuple[Any, ...]] = {}
        """Each token's table cells by id, formatted once when the rows arrive (filters and sorts reuse them)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="vocab-main"):
            with VerticalScroll(id="vocab-stats-column"):
                yield Static(f"vocabulary of {self.run}", id="vocab-title", markup=False)
                yield Static("Counting…", id="vocab-stats", markup=False)
                yield Static(EXPLANATION + " Click a column's header to sort by it.", id="vocab-under-help",
                             markup=False)
            with Vertical(id="vocab-right"):
                yield Input(placeholder="search: a piece (Ġthe), hex (68 65), or an id (#42)", id="vocab-search")
                yield Static("", id="vocab-count", markup=False)
                # id and piece stay in view when the table scrolls right to its counts and scores
                yield DataTable(id="vocab-table", cursor_type="row", zebra_stripes=True, fixed_columns=2)
        yield WorkbenchFooter()

    def on_mount(self) -> None:
        # widths set here rather than fitted by the table later (sized_columns): every token's cells, so
        # a filter or a sort never changes them
        set_columns(self.query_one("#vocab-table", DataTable), COLUMNS, [])
        self.query_one("#vocab-search", Input).focus()
        self._load()

    @work(thread=True, exclusive=True, group="vocab")
    def _load(self) -> None:
        workbench = self.tinygpt.workbench
        try:
            stats = workbench.vocab_stats()
            rows = workbench.vocab_rows()
        except TinyGPTError as err:
            self.app.call_from_thread(self._show_error, error_line(err))
            return
        self.app.call_from_thread(self._loaded, stats, rows)

    def _show_error(self, message: str) -> None:
        self.query_one("#vocab-stats", Static).update(Text(message, style="red"))

    def _loaded(self, stats: dict[str, Any], rows: list[Row]) -> None:
        self.rows = rows
        self._cells = {r[0]: _cells(r) for r in rows}
        set_columns(self.query_one("#vocab-table", DataTable), COLUMNS, list(self._cells.values()))
        self.query_one("#vocab-stats", Static).update(stats_table(stats))
        self._fill(self.query_one("#vocab-search", Input).value)

    def _fill(self, query: str) -> None:
        table = self.query_one("#vocab-table", DataTable)
        table.clear()
        self.shown = [r for r in self.rows if matches(r, query)]
        self._add_rows(table)
        total = len(self.rows)
        self.query_one("#vocab-count", Static).update(Text(  # the query is the user's text, never markup
            f"{len(self.shown):,} of {total:,} tokens" + (f" match '{query}'" if query.strip() else "")))

    @on(Input.Changed, "#vocab-search")
    def _search(self, event: Input.Changed) -> None:
        if self.rows:
            self._fill(event.value)

    @on(DataTable.HeaderSelected, "#vocab-table")
    def _sort(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    def sort_by(self, key: str) -> None:
        """Sort the shown rows by column ``key`` (counts, lengths and scores largest first); unknown
        values (no shards, a tied head) go last."""
        index = [k for _, k in COLUMNS].index(key)  # positions in a Row
        descending = key in DESCENDING
        known = [r for r in self.shown if r[index] is not None]
        known.sort(key=lambda r: r[index], reverse=descending)
        self.shown = known + [r for r in self.shown if r[index] is None]
        table = self.query_one("#vocab-table", DataTable)
        table.clear()
        self._add_rows(table)

    def _add_rows(self, table: DataTable) -> None:
        for row in self.shown:
            table.add_row(*self._cells[row[0]], key=str(row[0]))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_search(self) -> None:
        self.query_one("#vocab-search", Input).focus()
