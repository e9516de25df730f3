"""A view that studies the selected token with a forward pass of its own (the logit lens, the
sampler's cuts): it computes in a worker thread, so the UI never waits on the model, and drops an
answer a newer selection superseded.

The screen hands it a :class:`StudyRequest` (which token of which sequence); a subclass says what to
compute from it (:meth:`TokenStudy.compute`, in the worker, through the workbench) and how to draw
the result (:meth:`TokenStudy.render_result`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from ...config import SamplingConfig
from ...present import failure_line, prob_band, visible
from ..guard import Guarded

if TYPE_CHECKING:  # pragma: no cover - the app is named in type hints only
    from ..app import TinyGPTApp


@dataclass
class StudyRequest:
    """The selected token and the sequence it belongs to."""

    prompt: str
    ids: list[int]
    """Every token id of the sample (or the scored text) the token is in."""
    index: int
    """The token's position in ``ids``."""
    record: Any
    scored: bool = False
    """A token of a scored text (teacher forcing), not of a generation."""
    params: SamplingConfig | None = None
    """The settings the sample was generated with."""


class TokenStudy(Guarded, Static, can_focus=True):
    """Base of the views computed per selected token; ←/→ step through the tokens from inside."""

    BINDINGS = [
        Binding("left", "step(-1)", "Prev token", show=False),
        Binding("right", "step(1)", "Next token", show=False),
    ]

    DEFAULT_CSS = """
    TokenStudy { height: auto; padding: 0 1; }
    TokenStudy:focus { background: $boost; }
    """

    KEY = ""
    """The key that opens and closes the view (named in its hint line)."""
    WHAT = ""
    """What it computes, for the "Computing…" line."""

    class Step(Message):
        """The user asked for the previous (-1) or next (+1) token from inside the view."""

        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    class Computed(Message):
        def __init__(self, request: int, result: Any = None, error: str | None = None) -> None:
            super().__init__()
            self.request = request
            self.result = result
            self.error = error

    def __init__(self, note: str, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.result: Any | None = None
        self.request: StudyRequest | None = None
        self._number = 0
        self.show_note(note)

    # -- data ------------------------------------------------------------------------------------
    def show_note(self, note: str) -> None:
        """A line in place of the result (nothing selected, computing, an error); a late answer to an
        earlier request is dropped."""
        self._number += 1
        self.result = None
        self.update(Text(note, style="dim"))

    def follow(self, request: StudyRequest) -> None:
        """Compute the view of ``request``'s token, off the event loop."""
        self.show_note(f"Computing the {self.WHAT} of token #{request.index + 1}…")
        self.request = request
        self._worker(self._number, request)

    @work(thread=True, exclusive=True)
    def _worker(self, number: int, request: StudyRequest) -> None:
        try:
            result = self.compute(cast("TinyGPTApp", self.app).workbench, request)
        except Exception as err:  # a user error as its sentence; a bug said, never lost
            self.post_message(self.Computed(number, error=failure_line(err, f"The {self.WHAT}")))
            return
        self.post_message(self.Computed(number, result))

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        message.stop()
        if message.request != self._number:
            return  # the selection moved on while this was computed
        if message.error:
            self.update(Text(message.error, style="red"))
            return
        self.result = message.result
        self._redraw()

    def compute(self, workbench: Any, request: StudyRequest) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_result(self, width: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- drawing ---------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if self.result is not None:
            width = (self.content_size.width if self.is_mounted else 0) or 66
            self.update(self.render_result(width))

    def heading(self, title: str, hint: str) -> Text:
        """``title #N [token]`` then the view's keys, dim: the first two lines of every result."""
        assert self.request is not None
        rec = self.request.record
        out = Text()
        # numbered from 1, as every face numbers tokens
        out.append(f"{title} #{self.request.index + 1} ", style="bold")
        label = getattr(rec, "display", "") or getattr(rec, "text", "")
        out.append(f"[{visible(label)}]", style=prob_band(getattr(rec, "prob", 1.0)).colour + " bold")
        out.append(f"\n{hint} · ←/→ token · {self.KEY} back\n", style="dim")
        return out

    # -- interaction -----------------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        self.post_message(self.Step(delta))


def fit_alternatives(out: Text, alts: list[Any], chosen: int, width: int) -> None:
    """Append ``[x] 0.31 [y] 0.12 …`` to ``out``, as many as fit in ``width`` cells."""
    from rich.cells import cell_len

    used = 0
    for a in alts:
        label = f"[{visible(a.text or a.piece)}]"
        if cell_len(label) > 12:
            label = label[:10] + "…]"
        piece = f" {label} {a.prob:.2f}"
        if used + cell_len(piece) > width:
            break
        out.append(f" {label}", style="bold" if a.id == chosen else "")
        out.append(f" {a.prob:.2f}", style="dim")
        used += cell_len(piece)
