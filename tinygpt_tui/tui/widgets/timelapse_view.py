"""The time-lapse: a slider across the run's checkpoint history (F9 or /timelapse in the explorer).

For the frame in view it shows the sample that checkpoint writes for the explorer's prompt (the same
seed for every frame, so only the weights differ) and, for the text in view, a token × checkpoint heat
map of surprisal (heatmap.py, the project's surprisal colours) with the frame's column marked.
``,`` / ``.`` (or ←/→) move the slider, home/end jump to the first/latest checkpoint.

Everything is computed by timelapse.py in worker threads: opening the history and reading the text
under every checkpoint in one, each frame's sample in another as the slider reaches it (kept once
written). An answer to a superseded request is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from ...config import SamplingConfig, TinyGPTError
from ...present import error_line, failure_line, visible
from ..guard import Guarded

MAX_TOKENS = 80
"""New tokens per frame's sample at most (each frame writes one)."""

if TYPE_CHECKING:  # pragma: no cover - the app is named in type hints only
    from ..app import TinyGPTApp


@dataclass
class LapseRequest:
    """What to play back: the run, the prompt each frame continues, the text each frame reads."""

    run: str
    prompt: str
    text: str
    params: SamplingConfig


class TimelapseView(Guarded, Static, can_focus=True):
    """One prompt and one text through training, a checkpoint at a time."""

    BINDINGS = [
        Binding("comma,left", "move(-1)", "Earlier", show=False),
        Binding("full_stop,right", "move(1)", "Later", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Latest", show=False),
    ]

    DEFAULT_CSS = """
    TimelapseView { height: auto; padding: 0 1; }
    TimelapseView:focus { background: $boost; }
    """

    class Opened(Message):
        def __init__(self, number: int, lapse: Any = None, error: str | None = None) -> None:
            super().__init__()
            self.number, self.lapse, self.error = number, lapse, error

    class Read(Message):
        """The text read under every frame (or why it could not be)."""

        def __init__(self, number: int, matrix: Any = None, error: str | None = None) -> None:
            super().__init__()
            self.number, self.matrix, self.error = number, matrix, error

    class Sampled(Message):
        def __init__(self, number: int, frame: int, sample: Any = None, error: str | None = None) -> None:
            super().__init__()
            self.number, self.frame, self.sample, self.error = number, frame, sample, error

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.request: LapseRequest | None = None
        self.lapse: Any = None
        self.matrix: Any = None
        self.frame = -1
        self.samples: dict[int, Any] = {}
        self.errors: dict[int, str] = {}
        self.note = ""
        self._number = 0

    # -- data ------------------------------------------------------------------------------------
    def open(self, request: LapseRequest) -> None:
        """Play back ``request`` (from the latest checkpoint), computing off the event loop."""
        self._number += 1
        params = replace(request.params, num_samples=1,
                         max_new_tokens=min(MAX_TOKENS, request.params.max_new_tokens))
        self.request = replace(request, params=params)
        self.lapse = self.matrix = None
        self.samples, self.errors = {}, {}
        self.frame = -1
        self.show_note(f"Opening the checkpoint history of {request.run}…")
        self._open_worker(self._number, self.request)

    def show_note(self, note: str, style: str = "dim") -> None:
        self.note = note
        self.update(Text(note, style=style))

    @work(thread=True, exclusive=True, group="timelapse")
    def _open_worker(self, number: int, request: LapseRequest) -> None:
        workbench = cast("TinyGPTApp", self.app).workbench
        try:
            lapse = workbench.timelapse(request.run)
        except TinyGPTError as err:
            self.post_message(self.Opened(number, error=error_line(err)))
            return
        self.post_message(self.Opened(number, lapse))
        if not request.text:
            return
        try:
            matrix = lapse.surprisal(request.text)
        except Exception as err:  # a user error as its sentence; a bug said, never lost
            self.post_message(self.Read(number, error=failure_line(err, "Reading the text")))
            return
        self.post_message(self.Read(number, matrix))

    @work(thread=True, group="timelapse-sample")
    def _sample_worker(self, number: int, lapse: Any, frame: int, request: LapseRequest) -> None:
        try:
            sample = lapse.sample(frame, request.prompt, request.params)
        except Exception as err:  # a user error as its sentence; a bug said, never lost
            self.post_message(self.Sampled(number, frame, error=failure_line(err, "Sampling")))
            return
        self.post_message(self.Sampled(number, frame, sample))

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        message.stop()
        if message.number != self._number:
            return
        if message.error:
            self.show_note(message.error, style="red")
            return
        self.lapse = message.lapse
        self.move_to(len(self.lapse.frames) - 1)

    @on(Read)
    def _read(self, message: Read) -> None:
        message.stop()
        if message.number != self._number:
            return
        if message.error:
            self.errors[-1] = message.error
        self.matrix = message.matrix
        self.redraw()

    @on(Sampled)
    def _sampled(self, message: Sampled) -> None:
        message.stop()
        if message.number != self._number:
            return
        if message.error:
            self.errors[message.frame] = message.error
        else:
            self.samples[message.frame] = message.sample
        if message.frame == self.frame:
            self.redraw()

    # -- the slider ------------------------------------------------------------------------------
    def move_to(self, frame: int) -> None:
        """Show frame ``frame`` (clamped to the history), writing its sample when it has none yet."""
        if self.lapse is None or self.request is None:
            return
        self.frame = max(0, min(len(self.lapse.frames) - 1, frame))
        if self.frame not in self.samples and self.frame not in self.errors:
            self._sample_worker(self._number, self.lapse, self.frame, self.request)
        self.redraw()

    def action_move(self, delta: int) -> None:
        self.move_to(self.frame + delta)

    def action_jump(self, frame: int) -> None:
        """home: the first checkpoint; end (``frame`` -1): the latest."""
        if self.lapse is not None:
            self.move_to(frame if frame >= 0 else len(self.lapse.frames) + frame)

    # -- drawing ---------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        if self.lapse is not None and self.request is not None and self.frame >= 0:
            width = (self.content_size.width if self.is_mounted else 0) or 76
            self.update(self.render_frame(width))

    def render_frame(self, width: int) -> Text:
        from ...heatmap import heatmap
        from ...render import legend
        from ...units import human_bytes, human_count

        lapse, request, i = self.lapse, self.request, self.frame
        frame = lapse.frames[i]
        n = len(lapse.frames)
        out = Text(no_wrap=False)
        out.append(f"checkpoint {i + 1}/{n}", style="bold")
        out.append(f" · step {frame.step}")
        if frame.tokens is not None:
            out.append(f" · {human_count(frame.tokens)} tokens")
        if frame.val_loss is not None:
            out.append(f" · val loss {frame.val_loss:.3f}")
        out.append("\n, . or ←/→ move · home/end · F9 back\n", style="dim")
        # the slider: one mark per checkpoint, the one in view filled
        out.append("├")
        for f in range(n):
            out.append("●" if f == i else "─", style="bold" if f == i else "dim")
        out.append(f"┤ {n} kept of {lapse.name}, {human_bytes(lapse.size)}\n", style="dim")
        seed = request.params.seed if request.params.seed is not None else 0
        out.append(f"sample, seed {seed}: ", style="bold")
        sample = self.samples.get(i)
        # foreign text, appended as text (never markup); newlines shown as marks keep it to a line or two
        out.append(visible(request.prompt), style="dim")
        if sample is not None:
            out.append(visible(sample.text))
        elif i in self.errors:
            out.append(self.errors[i], style="red")
        else:
            out.append("writing…", style="dim italic")
        out.append("\n")
        if not request.text:
            out.append("No text in view to read: score a text (F2) or generate one, then F9.", style="dim")
        elif self.matrix is not None:
            out.append("surprisal of the text in view, token × checkpoint\n", style="bold")
            out.append_text(heatmap(self.matrix, width, i))
            out.append("\n")
            out.append_text(legend("surprisal"))
        elif -1 in self.errors:
            out.append(self.errors[-1], style="red")
        else:
            out.append(f"Reading the text under {n} checkpoints…", style="dim")
        return out
