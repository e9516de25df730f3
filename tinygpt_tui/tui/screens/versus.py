"""Two runs, one text (/versus RUN): the text coloured by each run's surprisal, and a table of the tokens
(or words, when the tokenizers differ) where the runs disagree most. The numbers come from versus.py."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static

from ...config import TinyGPTError
from ...present import ARROWS, error_line, surprisal_band, visible
from ..widgets.footer import WorkbenchFooter
from ..widgets.sized_columns import fill
from .base import AppScreen

HOW_TO_READ = (
    "Bits: surprisal under each run (green <1 bit … red ≥6 bits, the scale of score mode). B - A > 0: run B "
    "was more surprised. Same tokenizer: one row per token; different tokenizers: each token's bits are "
    "spread over its bytes and the rows are words. Largest disagreement first."
)

COLUMNS = (("#", "index"), ("token", "text"), ("A bits", "a"), ("B bits", "b"), ("B - A", "diff"))


def coloured(result: Any, side: str) -> Text:
    """The text, each token or word coloured by its surprisal under run ``side`` ("a" or "b")."""
    out = Text()
    for r in result.rows:
        bits = r.bits_a if side == "a" else r.bits_b
        out.append(visible(r.text, ARROWS) if result.unit == "token" else r.text, style=surprisal_band(bits).colour)
    return out


class VersusScreen(AppScreen):
    """Run A (the loaded one) and run B on one text."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, run_a: str, run_b: str, text: str) -> None:
        super().__init__()
        self.run_a, self.run_b, self.text = run_a, run_b, text
        self.result: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="versus-main"):
            yield Static(Text(f"A {self.run_a}  versus  B {self.run_b}", style="bold"), id="versus-title")
            yield Static(Text("Scoring the text under both runs…"), id="versus-summary")
            yield Static(Text(""), id="versus-a")
            yield Static(Text(""), id="versus-b")
            yield Static(Text(HOW_TO_READ, style="dim"), id="versus-help")
            yield DataTable(id="versus-table", cursor_type="row", zebra_stripes=True)
        yield WorkbenchFooter()

    def on_mount(self) -> None:
        fill(self.query_one("#versus-table", DataTable), COLUMNS, [])
        self._compare()

    @work(thread=True, exclusive=True, group="versus")
    def _compare(self) -> None:
        try:
            result = self.tinygpt.workbench.versus(self.run_b, self.text, run_a=self.run_a)
        except TinyGPTError as err:
            self.app.call_from_thread(self._show_error, error_line(err))
            return
        self.app.call_from_thread(self._show, result)

    def _show_error(self, message: str) -> None:
        self.query_one("#versus-summary", Static).update(Text(message, style="red"))

    def _show(self, result: Any) -> None:
        self.result = result
        how = "per token" if result.unit == "token" else "per word (different tokenizers)"
        self.query_one("#versus-summary", Static).update(Text(
            f"bits per byte: A {result.bits_per_byte_a:.3f}, B {result.bits_per_byte_b:.3f}; "
            f"{result.bytes} bytes, compared {how}"))
        for side in ("a", "b"):
            line = Text(f"{side.upper()}: ", style="bold")
            line.append_text(coloured(result, side))
            self.query_one(f"#versus-{side}", Static).update(line)
        fill(self.query_one("#versus-table", DataTable), COLUMNS, [
            (str(r.index), (r.index + 1, Text(visible(r.text, ARROWS)),  # numbered from 1, as everywhere
                            Text(f"{r.bits_a:.2f}", style=surprisal_band(r.bits_a).colour),
                            Text(f"{r.bits_b:.2f}", style=surprisal_band(r.bits_b).colour),
                            Text(f"{r.diff:+.2f}", style=surprisal_band(abs(r.diff)).colour)))
            for r in result.by_disagreement()])

    def action_back(self) -> None:
        self.app.pop_screen()
