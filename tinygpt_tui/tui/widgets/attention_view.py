"""What the selected token attended to: per layer, a heat strip over the context and the top keys.

The screen hands the view the selected token and its sequence (:meth:`AttentionView.follow`); the view
computes the :class:`~tinygpt_tui.attention.AttentionMaps` through the workbench in a worker thread, so
the UI never waits on the model, and drops an answer a newer request superseded. It shows the last
query position of the maps, which is the selected token: the sequence handed to the workbench ends there. Heads are shown averaged, or one at a time (``[``/``]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ...present import failure_line, prob_band, visible
from ..guard import Guarded
from .token_detail import BAR_WIDTH, bar

TOP_KEYS = 3
"""Keys listed under each layer's heat strip, the heaviest first."""
LABEL_WIDTH = 12
STRIP_LEVELS = " ▁▂▃▄▅▆▇█"

if TYPE_CHECKING:  # pragma: no cover - the app is named in type hints only
    from ..app import TinyGPTApp


def _fit(label: str, width: int = LABEL_WIDTH) -> str:
    """``[label]`` cut to ``width`` cells (an ellipsis marks the cut), padded on the right."""
    text = f"[{visible(label)}]"
    if cell_len(text) > width:
        while cell_len(text) > width - 2:
            text = text[:-1]
        text += "…]"
    return text + " " * max(0, width - cell_len(text))


class AttentionView(Guarded, Static, can_focus=True):
    """Attention of one token, a block per layer; ``[``/``]`` step through the heads (and their mean)."""

    BINDINGS = [
        Binding("left_square_bracket", "head(-1)", "Prev head", show=True),
        Binding("right_square_bracket", "head(1)", "Next head", show=True),
        Binding("left", "step(-1)", "Prev token", show=False),
        Binding("right", "step(1)", "Next token", show=False),
    ]

    DEFAULT_CSS = """
    AttentionView { height: auto; padding: 0 1; }
    AttentionView:focus { background: $boost; }
    """

    head: reactive[int] = reactive(-1)
    """-1: the mean over heads; otherwise the head shown."""

    class Step(Message):
        """The user asked for the previous (-1) or next (+1) token from inside the view."""

        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    class Computed(Message):
        """The worker finished one request (``maps`` of the workbench, or ``error``)."""

        def __init__(self, request: int, record: Any, maps: Any = None, error: str | None = None) -> None:
            super().__init__()
            self.request = request
            """Requests are numbered; the answer to one a newer request superseded is dropped."""
            self.record = record
            self.maps = maps
            self.error = error

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.maps: Any | None = None
        self.token: Any | None = None
        self._number = 0
        self._note = "Select a token in a sample (←/→ or a click) to see what it attended to."
        self.update(Text(self._note, style="dim"))

    # -- data ------------------------------------------------------------------------------------
    def show_note(self, note: str) -> None:
        """Show a line in place of the maps (nothing selected, computing, an error); a late answer to
        an earlier request is dropped."""
        self._number += 1
        self.maps, self._note = None, note
        self.update(Text(note, style="dim"))

    def follow(self, prompt: str, ids: list[int], record: Any) -> None:
        """Compute the attention of ``record``, the last of ``ids`` (the tokens after ``prompt``), off
        the event loop."""
        self.show_note(f"Computing the attention of token #{record.index + 1}…")
        self._worker(self._number, prompt, ids, record)

    @work(thread=True, exclusive=True, group="attention")
    def _worker(self, request: int, prompt: str, ids: list[int], record: Any) -> None:
        workbench = cast("TinyGPTApp", self.app).workbench
        try:
            maps = workbench.attention(workbench.prompt_ids(prompt) + ids)
        except Exception as err:  # a user error as its sentence; a bug said, never lost
            self.post_message(self.Computed(request, record, error=failure_line(err, "Attention")))
            return
        self.post_message(self.Computed(request, record, maps))

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        message.stop()
        if message.request != self._number:
            return  # the selection moved on while this was computed
        if message.error:
            self.show_note(message.error)
        else:
            self.show_maps(message.maps, message.record)

    def show_maps(self, maps: Any, token: Any) -> None:
        """Draw ``maps`` for ``token`` (the record of the last position of the sequence)."""
        self.maps, self.token = maps, token
        if self.head >= maps.n_head:
            self.head = -1
        self._redraw()

    def row(self, layer: int) -> list[float]:
        """The selected token's weights over the context in ``layer`` (mean or one head)."""
        assert self.maps is not None
        w = self.maps.weights[layer, :, -1, :]  # (nh, T): the last query is the selected token
        return [float(x) for x in (w.mean(axis=0) if self.head < 0 else w[self.head])]

    # -- drawing ---------------------------------------------------------------------------------
    def watch_head(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if self.maps is not None:
            self.update(self.render_maps())

    def render_maps(self, width: int | None = None) -> Text:
        maps, rec = self.maps, self.token
        assert maps is not None
        if width is None:
            width = (self.content_size.width if self.is_mounted else 0) or 66
        n = len(maps.ids)
        out = Text()
        label = getattr(rec, "display", "") or getattr(rec, "text", "") or maps.labels[-1]
        out.append("token ", style="bold")
        out.append(f"#{rec.index + 1 if rec is not None else n} ", style="bold")
        out.append(f"[{visible(label)}]", style=prob_band(getattr(rec, "prob", 1.0)).colour + " bold")
        out.append(f"  attends over {n} token{'s' if n != 1 else ''} of context", style="dim")
        if maps.cropped:
            out.append(f" ({maps.cropped} earlier out of the window)", style="yellow")
        out.append("\nhead ", style="bold")
        out.append(f"mean of {maps.n_head}" if self.head < 0 else f"{self.head + 1} of {maps.n_head}")
        out.append("   [ ] head · ←/→ token · F5 back\n", style="dim")
        out.append("strip: oldest → this token, scaled to each layer's peak\n" if width >= 56
                   else "strip: oldest → this token\n", style="dim")
        prefix = "layer 00 "
        strip_width = max(8, width - len(prefix))
        for layer in range(maps.n_layer):
            weights = self.row(layer)
            out.append(("\n\n" if layer else "\n") + f"layer {layer + 1:<2} ", style="bold")
            # the strip shows the most recent keys when the context is wider than the panel
            shown = weights[-strip_width:]
            peak = max(shown) or 1.0
            for w in shown:
                # scaled to the row's peak so a spread-out head still shows its shape
                level = round(w / peak * (len(STRIP_LEVELS) - 1))
                out.append(STRIP_LEVELS[level] if level else "·", style=prob_band(w).colour if level else "dim")
            top = sorted(range(n), key=lambda k: (-weights[k], -k))[:TOP_KEYS]
            for k in top:
                back = n - 1 - k
                where = "itself" if back == 0 else f"{back} back"
                out.append(f"\n  {where:>8} ", style="dim")
                out.append(_fit(maps.labels[k]), style="bold" if back == 0 else "")
                # "  5 back [label] bar 0.046" fits the panel: the bar gives way on a narrow one
                bar_width = max(4, min(BAR_WIDTH, width - 11 - LABEL_WIDTH - 7))
                out.append(" " + bar(weights[k], bar_width), style=prob_band(weights[k]).colour)
                out.append(f" {weights[k]:.3f}")
        return out

    # -- interaction -----------------------------------------------------------------------------
    def action_head(self, delta: int) -> None:
        if self.maps is None:
            return
        # -1 (the mean) sits before head 0 in the cycle
        n = self.maps.n_head + 1
        self.head = (self.head + 1 + delta) % n - 1

    def action_step(self, delta: int) -> None:
        self.post_message(self.Step(delta))
