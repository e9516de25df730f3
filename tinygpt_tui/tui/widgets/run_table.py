"""The table of runs: tokenizer, size, steps, best validation loss and bits per byte."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ...units import human_count
from ..guard import Guarded
from .sized_columns import fill

MARK = "● "
COLUMNS = ("run", "tokenizer", "params", "preset", "steps", "best val loss", "val bpb", "status")
LABELLED = [(c, c) for c in COLUMNS]
"""(label, key) of each column: a column's key is its label."""


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


class RunTable(Guarded, DataTable):
    """One row per run (row key = run name); enter or a click posts :class:`RunTable.Chosen`. Runs can
    be marked (:meth:`toggle_mark`, space on the runs screen) to be compared; a mark shows as ● before
    the name."""

    class Chosen(Message):
        def __init__(self, table: RunTable, run: str) -> None:
            super().__init__()
            self.table = table
            self.run = run

        @property
        def control(self) -> RunTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.runs: list[Any] = []
        self.marked: list[str] = []
        """The marked runs, in the order they were marked."""

    def on_mount(self) -> None:
        fill(self, LABELLED, [])

    def set_runs(self, runs: list[Any]) -> None:
        """Replace the rows, keeping the cursor on the same run where it still exists."""
        keep = self.selected_run
        self.runs = list(runs)
        names = {r.name for r in self.runs}
        self.marked = [m for m in self.marked if m in names]  # a deleted or renamed run is not marked
        rows = []
        for info in self.runs:
            tok = getattr(info, "tokenizer", None) or getattr(info, "tokenizer_kind", "?")
            vocab = getattr(info, "vocab_size", None)
            steps = f"{info.step}/{info.max_steps}" if getattr(info, "max_steps", None) else str(info.step)
            status = Text("training", style="bold green") if info.training else (
                Text("trained", style="cyan") if info.step else Text("new", style="dim"))
            if getattr(info, "problem", None):
                status = Text("unreadable", style="bold red")  # the summary line says why
            # names, tokenizers and presets come from folders and config files: text, never markup
            rows.append((info.name, (
                self._name_cell(info.name),
                Text(f"{tok} {vocab}" if vocab else str(tok)),
                human_count(getattr(info, "params", None)),
                Text(getattr(info, "preset", "") or "-"),
                steps,
                _num(getattr(info, "best_val_loss", None)),
                _num(getattr(info, "best_val_bpb", None)),
                status,
            )))
        y = self.scroll_y
        fill(self, LABELLED, rows)
        names = [r.name for r in self.runs]
        if keep in names:
            # a refill (a mark, a poll) keeps the view where it was, with the cursor on the same run
            # (scrolled to only where it is out of view)
            row = names.index(keep)
            self.move_cursor(row=row, scroll=False)

            def restore() -> None:
                if self.cursor_row != row:
                    return  # the user moved on meanwhile: their scroll wins
                self.scroll_to(y=y, animate=False, immediate=True)
                self.move_cursor(row=row)

            self.call_after_refresh(restore)

    def _name_cell(self, name: str) -> Text:
        if name in self.marked:
            out = Text(MARK, style="bold magenta")
            out.append(name)
            return out
        return Text(name)

    def toggle_mark(self, name: str) -> bool:
        """Mark ``name`` for comparing, or unmark it; True when it is marked now."""
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        self.set_runs(self.runs)  # the run column widens for the mark (the cursor stays on the run)
        return name in self.marked

    @property
    def selected_run(self) -> str | None:
        if not self.runs or self.cursor_row < 0 or self.cursor_row >= len(self.runs):
            return None
        return self.runs[self.cursor_row].name

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.Chosen(self, event.row_key.value))
