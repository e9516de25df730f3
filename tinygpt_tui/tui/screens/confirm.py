"""Small modal dialogs that return the user's choice."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ChoiceScreen(ModalScreen[str]):
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


class NameScreen(ModalScreen["str | None"]):
    """A question and a text field (a run's new name); dismisses with the text on enter or OK, None on
    escape or Cancel. ``check`` returns why a text will not do (shown under the field), or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", check=None) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-dialog"):
            yield Static(self.question, id="choice-question", markup=False)
            yield Input(self.value, id="name-input", select_on_focus=True)
            yield Static("", id="name-problem", markup=False)
            with Horizontal(id="choice-buttons"):
                yield Button("OK", id="name-ok", variant="primary")
                yield Button("Cancel", id="name-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        text = self.query_one(Input).value.strip()
        problem = self.check(text) if self.check else None
        if problem:
            self.query_one("#name-problem", Static).update(problem)  # markup=False: it quotes the text
            return
        self.dismiss(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "name-ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
