"""The slash-command bar: an Input that tells commands (``/params top_k=40``) from prompts."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from ..guard import Guarded


class CommandBar(Guarded, Vertical):
    """An input line plus a one-line message under it (errors in red, notes dim).

    Lines starting with ``/`` become :class:`CommandBar.CommandEntered`; anything else is a prompt
    (:class:`CommandBar.PromptEntered`). Up/down walk through the lines entered before.
    """

    DEFAULT_CSS = """
    CommandBar { height: auto; }
    CommandBar > Input { margin: 0; }
    CommandBar > #command-message { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    CommandBar > #command-message.error { color: $error; }
    """

    class CommandEntered(Message):
        """The user entered a slash command."""

        def __init__(self, bar: CommandBar, line: str) -> None:
            super().__init__()
            self.bar = bar
            self.line = line

        @property
        def control(self) -> CommandBar:
            return self.bar

    class PromptEntered(Message):
        """The user entered plain text (a prompt, or text to score)."""

        def __init__(self, bar: CommandBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> CommandBar:
            return self.bar

    def __init__(self, placeholder: str = "Type /help for commands", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._placeholder = placeholder
        self._history: list[str] = []
        self._history_pos = 0

    def compose(self) -> ComposeResult:
        # no select-on-focus: "/" typed to open the bar must not be selected and replaced by the next key
        yield Input(placeholder=self._placeholder, id="command-input", select_on_focus=False)
        yield Static("", id="command-message", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#command-input", Input)

    @property
    def message_text(self) -> str:
        """The text of the message line (what a test reads)."""
        return str(self.query_one("#command-message", Static).content)

    def show_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` under the input; errors are red until the next message."""
        label = self.query_one("#command-message", Static)
        label.update(Text(text))
        label.set_class(error, "error")

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.input.placeholder = text

    def focus_input(self) -> None:
        """Focus the input now, not after the queued events: keys that arrive in the same burst as the
        "/" that opened the bar (a paste, tmux, a fast typist) must land in it, not on a button."""
        try:
            self.screen.set_focus(self.input)
        except Exception:  # not on a screen yet
            self.input.focus()

    @on(Input.Submitted, "#command-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip()
        if not line:
            return
        if not self._history or self._history[-1] != line:
            self._history.append(line)
        self._history_pos = len(self._history)
        self.input.value = ""
        if line.startswith("//"):
            # '//text' is a prompt that starts with a slash
            self.post_message(self.PromptEntered(self, line[1:]))
        elif line.startswith("/"):
            self.post_message(self.CommandEntered(self, line))
        else:
            self.post_message(self.PromptEntered(self, event.value))

    def key_up(self) -> None:
        if self._history and self.input.has_focus:
            self._history_pos = max(0, self._history_pos - 1)
            self.input.value = self._history[self._history_pos]
            self.input.cursor_position = len(self.input.value)

    def key_down(self) -> None:
        if self._history and self.input.has_focus:
            self._history_pos = min(len(self._history), self._history_pos + 1)
            self.input.value = self._history[self._history_pos] if self._history_pos < len(self._history) else ""
            self.input.cursor_position = len(self.input.value)
