"""The base of the app's full screens: typed access to the app and the command bar's slash key."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

from ..guard import Guarded
from ..widgets.command_bar import CommandBar

if TYPE_CHECKING:
    from ..app import TinyGPTApp


class AppScreen(Guarded, Screen):
    """A screen of the workbench (runs, training, explorer, vocabulary).

    Screens reach the app through :attr:`tinygpt` (typed), never ``self.app.<attribute>`` untyped;
    ``/`` (bound by the screens that have a command bar) opens the bar with a slash typed.
    """

    pending_message: tuple[str, bool] | None = None
    """A message said while the screen was still being built: shown once its command bar mounts."""

    @property
    def tinygpt(self) -> TinyGPTApp:
        return cast("TinyGPTApp", self.app)

    def on_mount(self) -> None:
        # after the first refresh the command bar (and its message line) is surely mounted too
        self.call_after_refresh(self._show_pending)

    def _show_pending(self) -> None:
        pending, self.pending_message = self.pending_message, None
        bars = self.query(CommandBar)
        if pending and bars:
            bars.first().show_message(*pending)

    def action_command(self) -> None:
        """Open the command bar with a ``/`` typed."""
        bar = self.query_one(CommandBar)
        bar.focus_input()
        bar.input.value = "/"
        bar.input.cursor_position = 1
