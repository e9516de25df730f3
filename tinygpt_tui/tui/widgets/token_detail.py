"""The detail panel of one token: id, piece, bytes, probability, surprisal, entropy, alternatives."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...present import prob_band, visible

BAR_WIDTH = 18


def bar(p: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``width`` cells for probability ``p`` (eighth-block resolution)."""
    eighths = round(max(0.0, min(1.0, p)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")).ljust(width)


class TokenDetail(Static):
    """Everything known about the selected token; an empty hint when nothing is selected."""

    DEFAULT_CSS = """
    TokenDetail { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self._empty(), id=id)
        self.record: Any | None = None

    @staticmethod
    def _empty() -> Text:
        return Text("Select a token (←/→ in the token view, or click one) to see its details.", style="dim")

    def show(self, record: Any | None) -> None:
        self.record = record
        self.update(self._empty() if record is None else self.render_record(record))

    @staticmethod
    def render_record(rec: Any) -> Group:
        facts = Table.grid(padding=(0, 1))
        facts.add_column(style="bold", justify="right")
        facts.add_column()
        text = getattr(rec, "display", "") or rec.text
        facts.add_row("token", Text(f"#{rec.index + 1}" + (f"  sample {rec.sample + 1}" if rec.sample else "")))
        facts.add_row("id", str(rec.id))
        facts.add_row("piece", Text(repr(rec.piece)))
        facts.add_row("text", Text(f"[{visible(text)}]", style=prob_band(rec.prob).colour))
        facts.add_row("bytes", Text(f"{rec.hex}  ({len(rec.bytes)} byte{'s' if len(rec.bytes) != 1 else ''})"))
        facts.add_row("probability", Text(f"{rec.prob:.4f}", style=prob_band(rec.prob).colour))
        facts.add_row("log prob", f"{rec.logprob:.3f} nats")
        facts.add_row("surprisal", f"{rec.surprisal_bits:.2f} bits")
        entropy = getattr(rec, "entropy_bits", float("nan"))
        if entropy is not None and math.isfinite(entropy):
            facts.add_row("entropy", f"{entropy:.2f} bits")
        if getattr(rec, "rank", None):
            facts.add_row("rank", str(rec.rank))
        prob_sampled = getattr(rec, "prob_sampled", None)
        if prob_sampled is not None and math.isfinite(prob_sampled) and abs(prob_sampled - rec.prob) > 1e-6:
            facts.add_row("sampled p", f"{prob_sampled:.4f} (after temperature and filters)")
        cut = getattr(rec, "cut_mass", 0.0) or 0.0
        if cut > 0:
            facts.add_row("cut off", f"{cut:.1%} of the mass (top-k / top-p)")
        if getattr(rec, "note", ""):
            facts.add_row("note", Text(rec.note, style="yellow"))

        alts = Table(title="top alternatives", title_justify="left", box=None, padding=(0, 1),
                     show_header=False, expand=False)
        alts.add_column(justify="right", style="dim")
        alts.add_column()
        alts.add_column()
        alts.add_column(justify="right")
        for alt in getattr(rec, "alternatives", []) or []:
            chosen = alt.id == rec.id
            alt_text = alt.text if alt.text else alt.piece
            label = Text(f"[{visible(alt_text)}]", style="bold" if chosen else "")
            alts.add_row(str(alt.id), label, Text(bar(alt.prob), style=prob_band(alt.prob).colour),
                         Text(f"{alt.prob:.3f}" + (" ◀" if chosen else "  ")))
        return Group(facts, Text(""), alts)
