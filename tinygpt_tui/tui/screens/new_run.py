"""The "new run" form: source, tokenizer, vocabulary size, preset, steps; validated as you type."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...config import TOKENIZER_KINDS, RunConfig
from ...forms import RunForm, run_config_from_form, validate_run_form
from ...presets import PRESETS
from ..guard import Guarded


@dataclass
class NewRunResult:
    """What the form returns: the config to create and whether to start training right away."""

    config: RunConfig
    train: bool
    nproc: int = 1
    """Training processes (DDP through torchrun) when ``train``."""


FIELDS = ("name", "source", "tokenizer", "vocab_size", "special", "preset", "steps", "nproc")


class NewRunScreen(Guarded, ModalScreen[NewRunResult | None]):
    """A modal form; each field shows config.py's one-sentence message under it while it is wrong."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create(False)", "Create"),
        Binding("ctrl+t", "create(True)", "Create & train"),
    ]

    def __init__(self, existing: set[str], name: str = "") -> None:
        super().__init__()
        self.existing = existing
        self.initial_name = name or self._free_name("run")

    def _free_name(self, base: str) -> str:
        if base not in self.existing:
            return base
        i = 2
        while f"{base}-{i}" in self.existing:
            i += 1
        return f"{base}-{i}"

    def compose(self) -> ComposeResult:
        with Vertical(id="new-run-dialog"):
            yield Static("New run", id="new-run-title", markup=False)
            with VerticalScroll():
                yield Label("Run name", markup=False)
                yield Input(self.initial_name, id="field-name")
                yield Static("", id="error-name", classes="field-error", markup=False)
                yield Label("Data source (storybook, a .txt/.jsonl/.parquet path, hf:DATASET, mixtures)", markup=False)
                yield Input("storybook", id="field-source")
                yield Static("", id="error-source", classes="field-error", markup=False)
                yield Label("Tokenizer", markup=False)
                yield Select([(k, k) for k in TOKENIZER_KINDS], value="bpe", allow_blank=False,
                             id="field-tokenizer")
                yield Static("", id="error-tokenizer", classes="field-error", markup=False)
                yield Label("Vocabulary size (BPE; empty: the preset's)", markup=False)
                yield Input("", placeholder="preset default", id="field-vocab_size")
                yield Static("", id="error-vocab_size", classes="field-error", markup=False)
                yield Label("Extra special tokens (e.g. <|im_start|> <|im_end|> <|pad|>; <|endoftext|> is always in)", markup=False)
                yield Input("", placeholder="none", id="field-special")
                yield Static("", id="error-special", classes="field-error", markup=False)
                yield Label("Preset (model shape and training defaults)", markup=False)
                yield Select([(f"{k}", k) for k in PRESETS], value="tiny", allow_blank=False, id="field-preset")
                yield Static("", id="error-preset", classes="field-error", markup=False)
                yield Label("Training steps (empty: the preset's)", markup=False)
                yield Input("", placeholder="preset default", id="field-steps")
                yield Static("", id="error-steps", classes="field-error", markup=False)
                yield Label("Training processes (DDP through torchrun: one per GPU, or CPU processes)", markup=False)
                yield Input("1", id="field-nproc")
                yield Static("", id="error-nproc", classes="field-error", markup=False)
            yield Static("", id="new-run-preview", markup=False)
            with Horizontal(id="new-run-buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Create & train", id="create-train", variant="success")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#field-name", Input).focus()
        self.validate_form()

    def form(self) -> RunForm:
        def text(field: str) -> str:
            return self.query_one(f"#field-{field}", Input).value

        def choice(field: str) -> str:
            value = self.query_one(f"#field-{field}", Select).value
            return str(value) if value is not Select.BLANK else ""

        return RunForm(name=text("name"), source=text("source"), tokenizer=choice("tokenizer"),
                       vocab_size=text("vocab_size"), preset=choice("preset"), steps=text("steps"),
                       nproc=text("nproc"), special=text("special"))

    def validate_form(self) -> dict[str, str]:
        """Show each field's message (or clear it); returns the errors."""
        form = self.form()
        errors = validate_run_form(form, self.existing)
        for field in FIELDS:
            # a message quotes what the user typed ("[/]"): text, never markup
            self.query_one(f"#error-{field}", Static).update(Text(errors.get(field, "")))
        # vocabulary size only means something for BPE
        self.query_one("#field-vocab_size", Input).disabled = form.tokenizer != "bpe"
        preview = self.query_one("#new-run-preview", Static)
        if errors:
            preview.update("")
        else:
            cfg = run_config_from_form(form)
            m = cfg.model
            preview.update(f"{m.n_layer} layers × {m.n_head} heads × {m.n_embd} wide, context "
                           f"{m.block_size}; {cfg.train.max_steps} steps of {cfg.train.batch_size} sequences")
        for button in self.query("#create, #create-train").results(Button):
            button.disabled = bool(errors)
        return errors

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self.validate_form()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create(False)

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self.action_create(False)

    @on(Button.Pressed, "#create-train")
    def _create_train(self) -> None:
        self.action_create(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_create(self, train: bool) -> None:
        if self.validate_form():
            self.app.bell()
            return
        form = self.form()
        self.dismiss(NewRunResult(run_config_from_form(form), train, int(form.nproc.strip() or "1")))

    def action_cancel(self) -> None:
        self.dismiss(None)
