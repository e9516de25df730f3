"""The validation story, coloured by surprisal (present.py's one scale), as the last evaluation scored
it; the tokens whose surprisal fell most since the evaluation before are underlined.

The story is foreign text: it is built into a rich Text piece by piece, never parsed as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...events import TrainingState
from ...present import SURPRISAL_BANDS, surprisal_band, visible
from ...story import fallen
from ..guard import Guarded

MARK = "bold underline"
"""How a token that fell most is marked (on top of its colour)."""


def story_title(state: TrainingState) -> Text:
    """One line above the story: which evaluation it is, the scale, and what the marks mean."""
    out = Text()
    out.append(f"validation story at step {state.story_step}", style="bold")
    if state.story_prev_step is not None:
        out.append("  ")
        out.append("underlined", style=MARK)
        out.append(f": fell most since step {state.story_prev_step}")
    out.append("  ")
    for band in SURPRISAL_BANDS[::-1]:
        out.append(f"{band.label} ", style=band.colour)
    return out


def story_text(state: TrainingState) -> Text:
    """The story's tokens, each in the colour of its surprisal; the ones that fell most underlined."""
    marked = set(fallen(state.story_prev_bits, state.story_bits)) if state.story_prev_bits else set()
    out = Text()
    for i, (token, bits) in enumerate(zip(state.story_tokens, state.story_bits, strict=False)):
        style = surprisal_band(bits).colour  # None (not finite) is surprising
        out.append(visible(token), style=f"{MARK} {style}" if i in marked else style)
    return out


class StoryView(Guarded, Static):
    """Shows a state's story; hidden while the run has none (runs trained before stories existed)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._key: tuple[int | None, tuple] = (None, ())
        self.story = Text()
        """What it shows now (tests read it: a Static's own render is Textual's content, not this)."""

    def show(self, state: TrainingState) -> None:
        """Redraw from ``state`` when its story changed since the last call."""
        key = (state.story_step, state.story_bits)
        if key == self._key:
            return
        self._key = key
        out = Text()
        if state.story_tokens:
            out = story_title(state)
            out.append("\n")
            out.append_text(story_text(state))
        self.story = out
        self.update(out)
