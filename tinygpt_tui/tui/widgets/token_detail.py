"""The detail panel of one token: id, piece, bytes, probability, surprisal, entropy, alternatives;
and the explorer's column around it (:class:`DetailPanel`), titled with the token's place.

Focused (``b`` in the explorer), it lets the user choose one of the alternatives (up/down, enter or
b) and posts :class:`TokenDetail.Branch`; a click on an alternative does the same at any time. The
cursor and the hint show only while the panel has focus, so the panel looks as before otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from ...present import prob_band, visible
from ..guard import Guarded

BAR_WIDTH = 18


def bar(p: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``width`` cells for probability ``p`` (eighth-block resolution)."""
    eighths = round(max(0.0, min(1.0, p)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")).ljust(width)


BRANCH_HINT = "↑/↓ choose an alternative · enter or b: continue from it as a branch · esc back"


class TokenDetail(Guarded, Static, can_focus=True):
    """Everything known about the selected token; an empty hint when nothing is selected."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Prev alternative", show=False),
        Binding("down", "cursor(1)", "Next alternative", show=False),
        Binding("enter,b", "branch", "Branch", show=False),
    ]

    DEFAULT_CSS = """
    TokenDetail { height: auto; padding: 0 1; }
    """

    class Branch(Message):
        """Continue from ``alternative`` (an Alternative of ``record``) as a new branch."""

        def __init__(self, detail: TokenDetail, record: Any, alternative: Any) -> None:
            super().__init__()
            self.detail, self.record, self.alternative = detail, record, alternative

        @property
        def control(self) -> TokenDetail:
            return self.detail

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self._empty(), id=id)
        self.record: Any | None = None
        self.cursor = 0
        """The alternative the keys would branch from (shown while the panel has focus)."""

    @property
    def alternatives(self) -> list[Any]:
        return list(getattr(self.record, "alternatives", []) or []) if self.record is not None else []

    def choose(self) -> bool:
        """Take focus to choose an alternative, the cursor on the most likely one that is not the token
        itself; False when there is nothing to choose from."""
        alts = self.alternatives
        if not alts:
            return False
        self.cursor = next((k for k, a in enumerate(alts) if a.id != self.record.id), 0)
        self.focus()
        self._redraw()
        return True

    def action_cursor(self, delta: int) -> None:
        if self.alternatives:
            self.cursor = max(0, min(len(self.alternatives) - 1, self.cursor + delta))
            self._redraw()

    def action_branch(self) -> None:
        alts = self.alternatives
        if alts:
            self.post_message(self.Branch(self, self.record, alts[min(self.cursor, len(alts) - 1)]))

    def on_click(self, event: events.Click) -> None:
        k = event.style.meta.get("alt") if event.style else None
        if isinstance(k, int) and 0 <= k < len(self.alternatives):
            self.cursor = k
            self.post_message(self.Branch(self, self.record, self.alternatives[k]))

    def on_focus(self) -> None:
        self._redraw()

    def on_blur(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if self.record is not None:
            self.update(self.render_record(self.record, self.cursor if self.has_focus else None))

    @staticmethod
    def _empty() -> Text:
        return Text("Select a token (←/→ in the token view, or click one) to see its details.", style="dim")

    def show(self, record: Any | None) -> None:
        self.record = record
        self.cursor = 0
        if record is None:
            self.update(self._empty())
        else:
            self._redraw()

    @staticmethod
    def render_record(rec: Any, cursor: int | None = None) -> Group:
        """The panel for ``rec``; ``cursor``: the alternative to highlight, with the keys' hint (None:
        neither). Each alternative's cells carry its rank in the style's meta, for clicks."""
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
        for k, alt in enumerate(getattr(rec, "alternatives", []) or []):
            chosen = alt.id == rec.id
            alt_text = alt.text if alt.text else alt.piece
            meta = Style(meta={"alt": k}, reverse=True if k == cursor else None)
            label = Text(f"[{visible(alt_text)}]", style=Style(bold=True if chosen else None) + meta)
            alts.add_row(Text(str(alt.id), style=meta), label,
                         Text(bar(alt.prob), style=Style.parse(prob_band(alt.prob).colour) + meta),
                         Text(f"{alt.prob:.3f}" + (" ◀" if chosen else "  "), style=meta))
        if cursor is None:
            return Group(facts, Text(""), alts)
        return Group(facts, Text(""), alts, Text(""), Text(BRANCH_HINT, style="dim"))


class DetailPanel(Vertical):
    """The explorer's right-hand column: a title that places the selected token in its view ("token 3
    of 40"), above the token's :class:`TokenDetail`."""

    def compose(self) -> ComposeResult:
        yield Static("token", id="detail-title", markup=False)
        with VerticalScroll(id="detail-scroll"):
            yield TokenDetail(id="token-detail")

    @property
    def detail(self) -> TokenDetail:
        return self.query_one(TokenDetail)

    def show(self, view: Any, record: Any | None, index: int) -> None:
        """Show ``record``, token ``index`` of ``view`` (a TokenView); None shows nothing."""
        self.detail.show(record)
        self.query_one("#detail-title", Static).update(
            "token" if record is None else f"token {index + 1} of {len(view.records)}")

    def show_selection(self, view: Any) -> None:
        """Show the token selected in ``view``, if it has one."""
        self.show(view, view.selected_record, view.selected)

    def clear(self) -> None:
        self.show(None, None, -1)
