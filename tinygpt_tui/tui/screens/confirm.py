"""Small modal dialogs that return the user's choice."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ..guard import Guarded


class ChoiceScreen(Guarded, ModalScreen[str]):
    """A question and a row of buttons; dismisses with the chosen button's key ("cancel" on escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, choices: list[tuple[str, str, str]]) -> None:
        """``choices`` are (key, label, variant) triples, the first one focused."""
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-dialog"):
            yield Static(self.question, id="choice-question", markup=False)
            with Horizontal(id="choice-buttons"):
                for key, label, variant in self.choices:
                    yield Button(label, id=f"choice-{key}", variant=variant)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "choice-cancel").removeprefix("choice-"))

    def action_cancel(self) -> None:
        self.dismiss("cancel")


class AskTextScreen(Guarded, ModalScreen["str | None"]):
    """A question and a one-line answer (a hub id, a run's new name); dismisses with the text on enter
    or the first button, None on escape or Cancel. ``check`` returns why a text will not do (shown
    under the field, and the dialog stays), or None. The answer is the user's text: passed on as it
    is, never parsed as markup."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", *, placeholder: str = "", ok: str = "OK",
                 check: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.ok = ok
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-dialog"):
            yield Static(self.question, id="ask-question", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="ask-input", select_on_focus=True)
            yield Static("", id="ask-problem", markup=False)
            with Horizontal(id="ask-buttons"):
                yield Button(self.ok, id="ask-ok", variant="primary")
                yield Button("Cancel", id="ask-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        text = self.query_one(Input).value.strip()
        problem = self.check(text) if self.check else None
        if problem:
            self.query_one("#ask-problem", Static).update(problem)  # markup=False: it quotes the text
            return
        self.dismiss(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ask-ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
