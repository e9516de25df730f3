"""The stream of generated (or scored) tokens: each in [boundaries], coloured by probability.

One token is selected at a time (left/right, home/end, or a mouse click); the view posts
:class:`TokenView.Selected` so a detail panel can show it. Four display modes show the same tokens
as clean text, bracketed text, raw pieces (``Ġsoft``) or byte hex.
"""

from __future__ import annotations

import re
import time
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from ...present import prob_band, visible
from ..guard import Guarded

STREAM_REFRESH_SECONDS = 0.1
"""While tokens stream in, the view is refreshed at most this often (less often as the text grows)."""

MODES = ("clean", "boundaries", "pieces", "hex")
MODE_LABELS = {"clean": "clean text", "boundaries": "[boundaries]", "pieces": "raw pieces", "hex": "byte hex"}

def token_label(record: Any, mode: str) -> str:
    """The text one token shows in ``mode`` (without brackets)."""
    if mode == "hex":
        return record.hex
    if mode == "pieces":
        return record.piece
    if mode == "clean":
        return record.text
    # the token on its own: its text, or <hex> when its bytes are not valid UTF-8 by themselves
    return visible(getattr(record, "display", "") or record.text)


class TokenView(Guarded, Static, can_focus=True):
    """Token records of one sample (or of a scored text), selectable by keyboard and mouse."""

    BINDINGS = [
        Binding("left", "move(-1)", "Prev token", show=True),
        Binding("right", "move(1)", "Next token", show=True),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("up", "other_sample(-1)", "Prev sample", show=False),
        Binding("down", "other_sample(1)", "Next sample", show=False),
        Binding("m", "most_surprising", "Most surprising", show=False),
        Binding("v", "cycle_mode", "View", show=True),
    ]

    DEFAULT_CSS = """
    TokenView { height: auto; padding: 0 1; }
    TokenView:focus { background: $boost; }
    """

    mode: reactive[str] = reactive("boundaries")
    selected: reactive[int] = reactive(-1)

    class Selected(Message):
        """A token was selected; ``record`` is None when the view was cleared."""

        def __init__(self, view: TokenView, index: int, record: Any | None) -> None:
            super().__init__()
            self.view = view
            self.index = index
            self.record = record

        @property
        def control(self) -> TokenView:
            return self.view

    class ModeCycled(Message):
        """The user asked this view for the next display mode (``v``); screens may sync other views."""

        def __init__(self, view: TokenView, mode: str) -> None:
            super().__init__()
            self.view = view
            self.mode = mode

        @property
        def control(self) -> TokenView:
            return self.view

    def __init__(self, prompt: str = "", *, colour_by: str = "prob", id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.prompt = prompt
        self.records: list[Any] = []
        self.colour_by = colour_by
        """``prob``: the sampled token's probability; ``surprisal`` (scoring) shows the same scale."""
        self._cache: tuple[tuple, Text, int] | None = None
        """(draw key, text drawn so far, its last line's column): streamed tokens are appended to it."""
        self._pending: Timer | None = None
        self._last_update = 0.0

    # -- data ------------------------------------------------------------------------------------
    def add_records(self, records: list[Any]) -> None:
        """Append streamed records: only the new tokens are drawn (onto the cached text), and the
        widget is refreshed a few times a second at most (call :meth:`flush` at the end)."""
        first = len(self.records)
        self.records.extend(records)
        cache = self._cache
        if cache is None or cache[0] != self._draw_key():
            self._redraw()
            return
        text, col = cache[1], cache[2]
        self._cache = (cache[0], text, self._draw_records(text, col, first, self._width()))
        # Textual renders the whole text on each refresh: a longer text is refreshed less often
        interval = min(1.0, STREAM_REFRESH_SECONDS + len(self.records) * 0.0002)
        now = time.monotonic()
        if now - self._last_update >= interval:
            self._show(text)
        elif self._pending is None:
            self._pending = self.set_timer(interval - (now - self._last_update), self.flush)

    def set_records(self, records: list[Any], prompt: str = "") -> None:
        self.prompt = prompt
        self.records = list(records)
        self.selected = -1
        self._redraw()

    def clear(self) -> None:
        self.set_records([], "")
        self.post_message(self.Selected(self, -1, None))

    @property
    def selected_record(self) -> Any | None:
        return self.records[self.selected] if 0 <= self.selected < len(self.records) else None

    # -- drawing ---------------------------------------------------------------------------------
    def watch_mode(self) -> None:
        self._redraw()

    def watch_selected(self) -> None:
        self._redraw()

    def _width(self) -> int | None:
        return (self.content_size.width or None) if self.is_mounted else None

    def _draw_key(self) -> tuple:
        """What a drawing depends on besides the records: a change means a full redraw."""
        return (self._width(), self.mode, self.selected, self.prompt)

    def render_text(self, width: int | None = None) -> Text:
        """The whole view as Rich text; each token span carries its index in the style's meta.

        Outside clean mode the lines are broken here, between tokens, never inside one: Rich would
        otherwise wrap at a space token and split ``[ ]`` over two lines. ``width`` defaults to the
        widget's content width (unknown before layout: then Rich wraps).
        """
        return self._draw_all(self._width() if width is None else width)[0]

    def _draw_all(self, width: int | None) -> tuple[Text, int]:
        """The prompt and every record as one Text, and the column where its last line ends."""
        out = Text()
        col = 0
        if self.prompt:
            for word in re.findall(r"\S+\s*|\s+", self.prompt):
                col = self._put(out, col, width, [(word, "dim italic")])
        return out, self._draw_records(out, col, 0, width)

    def _put(self, out: Text, col: int, width: int | None, parts: list[tuple[str, Style | str]],
             sep: str = "") -> int:
        """Append one unbreakable unit (after ``sep`` unless it starts a line), breaking the line
        first when it would not fit; returns the new column."""
        size = sum(cell_len(text) for text, _ in parts)
        if width and self.mode != "clean" and col > 0 and col + len(sep) + size > width:
            out.append("\n")
            col = 0
        if sep and col > 0:
            parts = [(sep, ""), *parts]
            size += len(sep)
        for text, style in parts:
            out.append(text, style=style)
        joined = "".join(text for text, _ in parts)
        return cell_len(joined.rsplit("\n", 1)[-1]) if "\n" in joined else col + size

    def _draw_records(self, out: Text, col: int, first: int, width: int | None) -> int:
        """Append the records from index ``first`` on to ``out``; returns the final column."""
        # pieces and hex are not text: a space between tokens keeps them apart
        sep = " " if self.mode in ("pieces", "hex") else ""
        for i in range(first, len(self.records)):
            rec = self.records[i]
            label = token_label(rec, self.mode)
            style = Style(color=prob_band(rec.prob).colour, meta={"token": i})
            if i == self.selected:
                style += Style(reverse=True, bold=True)
            if self.mode == "clean":
                col = self._put(out, col, width, [(label, style)])
                continue
            bracket = Style(dim=True, meta={"token": i})
            col = self._put(out, col, width, [("[", bracket), (label, style), ("]", bracket)], sep)
            if self.mode == "boundaries" and "\n" in (rec.text or ""):
                col = self._put(out, col, width, [("\n", "")])
        return col

    def on_resize(self) -> None:
        # a taller view (more lines streamed in) resizes it too: redraw only for a new width
        if self._cache is None or self._cache[0] != self._draw_key():
            self._redraw()

    def _redraw(self) -> None:
        """Draw everything again (selection, mode, width or prompt changed) and show it now."""
        out, col = self._draw_all(self._width())
        self._cache = (self._draw_key(), out, col)
        self._show(out)

    def _show(self, text: Text) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        self._last_update = time.monotonic()
        # a copy: the cached text keeps growing while the widget renders what it was given
        self.update(text.copy())

    def flush(self) -> None:
        """Show the records added since the last refresh (the end of a stream)."""
        if self._cache is not None and self._cache[0] == self._draw_key():
            self._show(self._cache[1])
        else:
            self._redraw()

    # -- interaction -----------------------------------------------------------------------------
    def select(self, index: int) -> None:
        """Select token ``index`` (negative counts from the end) and announce it."""
        if not self.records:
            return
        if index < 0:
            index += len(self.records)
        index = max(0, min(len(self.records) - 1, index))
        self.selected = index
        self.post_message(self.Selected(self, index, self.records[index]))

    class Edge(Message):
        """A move past the first or last token (``delta`` -1 or 1), or to another sample (``sample``
        True: ↑/↓): the screen moves the selection to the neighbouring sample, if there is one."""

        def __init__(self, view: TokenView, delta: int, sample: bool = False) -> None:
            super().__init__()
            self.view, self.delta, self.sample = view, delta, sample

        @property
        def control(self) -> TokenView:
            return self.view

    def action_move(self, delta: int) -> None:
        if self.records and (self.selected + delta >= len(self.records) or self.selected >= 0 > self.selected + delta):
            self.post_message(self.Edge(self, delta))  # past the end of this sample: the next one
            return
        if self.selected < 0:
            # nothing selected yet: right starts at the first token, left at the last
            self.select(0 if delta > 0 else -1)
        else:
            self.select(self.selected + delta)

    def action_jump(self, index: int) -> None:
        self.select(index)

    def action_other_sample(self, delta: int) -> None:
        self.post_message(self.Edge(self, delta, sample=True))

    def action_most_surprising(self) -> None:
        """Select the token the model found most surprising (highest surprisal)."""
        if self.records:
            scores = [getattr(r, "surprisal_bits", 0.0) for r in self.records]
            self.select(max(range(len(scores)), key=scores.__getitem__))

    def action_cycle_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self.post_message(self.ModeCycled(self, self.mode))

    def on_click(self, event: events.Click) -> None:
        index = event.style.meta.get("token") if event.style else None
        if isinstance(index, int):
            self.focus()
            self.select(index)
