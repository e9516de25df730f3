"""The prompt's tokenization: Token ID | Token | Visualization (the token inside its context)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ...present import hex_label, visible
from ..guard import Guarded
from .sized_columns import fill

CONTEXT_CHARS = 14
COLUMNS = (("Token ID", "id"), ("Token", "token"), ("Hex", "hex"), ("Visualization", "viz"))


def visualize(texts: list[str], i: int, context: int = CONTEXT_CHARS) -> Text:
    """Token ``i`` highlighted between the end of the text before it and the start of the text after."""
    before = "".join(texts[:i])[-context:]
    after = "".join(texts[i + 1 :])[:context]
    out = Text()
    out.append(("…" if len("".join(texts[:i])) > context else "") + visible(before), style="dim")
    out.append(visible(texts[i]) or "∅", style="bold reverse")
    out.append(visible(after) + ("…" if len("".join(texts[i + 1 :])) > context else ""), style="dim")
    return out


def row_display(row: dict[str, Any]) -> str:
    """A row's token as the token view shows it: its text, or ``<e2 80>`` when its bytes are not
    valid UTF-8 by themselves (its ``text`` would be U+FFFD)."""
    return hex_label(str(row.get("hex", "")), str(row.get("text", "")))


class BreakdownTable(Guarded, DataTable):
    """Rows of ``breakdown(tok, text)``: one per token of the prompt."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.rows_data: list[dict[str, Any]] = []

    def on_mount(self) -> None:
        fill(self, COLUMNS, [])

    def set_breakdown(self, rows: list[dict[str, Any]]) -> None:
        self.rows_data = list(rows)
        texts = [row_display(r) for r in rows]
        fill(self, COLUMNS, [(str(i), (str(row["id"]), Text(repr(row["piece"])[1:-1]), row.get("hex", ""),
                                        visualize(texts, i))) for i, row in enumerate(rows)])
