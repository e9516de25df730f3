"""The table of runs: tokenizer, size, steps, best validation loss and bits per byte."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ...units import human_count
from ..guard import Guarded

COLUMNS = ("run", "tokenizer", "params", "preset", "steps", "best val loss", "val bpb", "status")


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


class RunTable(Guarded, DataTable):
    """One row per run (row key = run name); enter or a click posts :class:`RunTable.Chosen`."""

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

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(col, key=col)

    def set_runs(self, runs: list[Any]) -> None:
        """Replace the rows, keeping the cursor on the same run where it still exists."""
        keep = self.selected_run
        self.runs = list(runs)
        self.clear()
        for info in self.runs:
            tok = getattr(info, "tokenizer", None) or getattr(info, "tokenizer_kind", "?")
            vocab = getattr(info, "vocab_size", None)
            steps = f"{info.step}/{info.max_steps}" if getattr(info, "max_steps", None) else str(info.step)
            status = Text("training", style="bold green") if info.training else (
                Text("trained", style="cyan") if info.step else Text("new", style="dim"))
            if getattr(info, "problem", None):
                status = Text("unreadable", style="bold red")  # the summary line says why
            # names, tokenizers and presets come from folders and config files: text, never markup
            self.add_row(
                Text(info.name),
                Text(f"{tok} {vocab}" if vocab else str(tok)),
                human_count(getattr(info, "params", None)),
                Text(getattr(info, "preset", "") or "-"),
                steps,
                _num(getattr(info, "best_val_loss", None)),
                _num(getattr(info, "best_val_bpb", None)),
                status,
                key=info.name,
            )
        names = [r.name for r in self.runs]
        if keep in names:
            self.move_cursor(row=names.index(keep))

    @property
    def selected_run(self) -> str | None:
        if not self.runs or self.cursor_row < 0 or self.cursor_row >= len(self.runs):
            return None
        return self.runs[self.cursor_row].name

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.Chosen(self, event.row_key.value))
