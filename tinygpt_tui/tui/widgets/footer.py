"""The footer of every screen: F1 Help and Quit first, compact on a narrow terminal.

Textual's footer lists the focused widget's keys, then the screen's, then the app's: on an 80-column
terminal the app's F1 Help fell off the end. Here the app's keys come first, and below
:data:`NARROW` columns the footer is compact and leaves out the command palette's key (Ctrl+P still
opens it); what still does not fit scrolls sideways.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from ..guard import Guarded

NARROW = 100
"""Below this many columns the footer is compact."""

FIRST = ("app.help", "help", "app.quit", "quit")
"""Actions whose keys are listed first, in this order."""


class WorkbenchFooter(Guarded, Footer):
    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey) and w.action in FIRST]
        keys.sort(key=lambda w: FIRST.index(w.action))
        yield from keys
        yield from (w for w in widgets if w not in keys)

    def on_mount(self) -> None:
        self._fit(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(self.app.size.width)

    def _fit(self, width: int) -> None:
        narrow = width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow
