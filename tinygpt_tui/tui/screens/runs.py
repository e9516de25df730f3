"""The first screen: every run under models/, or a quick start when there is none."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Header, Static

from ...forms import quick_start_config
from ...present import error_line, short_path
from ..widgets.command_bar import CommandBar
from ..widgets.footer import WorkbenchFooter
from ..widgets.run_table import RunTable
from .base import AppScreen


def quick_start_text(models: str) -> str:
    """What the quick start will do, with its numbers taken from the quick-start configuration."""
    from ...runs import estimate_params

    cfg = quick_start_config()
    if cfg.tokenizer.kind == "bpe":
        cfg.model.vocab_size = cfg.tokenizer.vocab_size
    budget = (f"{cfg.train.max_time:.0f} seconds of training" if cfg.train.max_time
              else f"{cfg.train.max_steps} steps")
    return (
        f"No runs yet in {models}.\n\n"
        f"Quick start: build a story corpus with the built-in generator ({cfg.data.source}), train a "
        f"byte-level BPE tokenizer ({cfg.tokenizer.vocab_size} tokens), cut the corpus into shards and "
        f"train the '{cfg.preset}' preset (about {estimate_params(cfg.model) / 1e6:.1f}M parameters, "
        f"{budget}), live, as run '{cfg.name}'. Then explore what it writes, token by token.\n\n"
        "Press s (or click the button) to start it; n for a run of your own."
    )


class RunsScreen(AppScreen):
    """Lists runs (RunTable); opens one in the explorer, its training, or the new-run form."""

    AUTO_FOCUS = None
    BINDINGS = [
        Binding("slash", "command", "Command", show=False),
        Binding("escape", "leave_bar", "Runs", show=False),
        Binding("s", "quick_start", "Quick start"),
        Binding("e", "open_selected", "Explore"),
        Binding("t", "train_selected", "Training"),
        Binding("n", "new_run", "New run"),
        Binding("o", "open_hf", "HF model"),  # short: the footer at 120 columns has room for c too
        Binding("r", "refresh", "Refresh"),
        Binding("m", "rename_selected", "Rename"),
        Binding("d", "delete_selected", "Delete"),
        Binding("space", "mark", "Mark", show=False),  # the footer has no room; c says it
        Binding("c", "compare", "Compare"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="runs-body"):
            yield Static("", id="runs-title", markup=False)
            yield RunTable(id="run-table")
            with Vertical(id="quick-start"):
                yield Static("", id="quick-start-text", markup=False)
                with Horizontal(id="quick-start-buttons"):
                    yield Button("Quick start (preset tiny)", id="quick-start-button", variant="success")
                    yield Button("New run…", id="new-run-button")
            yield Static("", id="run-summary", markup=False)
        yield CommandBar("Type /help, /new, /load RUN, /train RUN…", id="command-bar")
        yield WorkbenchFooter()

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_screen_resume(self) -> None:
        bar = self.query_one(CommandBar)
        if bar.message_text.startswith("Loading"):
            bar.show_message("")  # the run it loaded is open (or was left): not loading any more
        self.refresh_runs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quick_start":  # only offered (and shown in the footer) while there are no runs
            return not self.query_one(RunTable).runs
        return True

    def refresh_runs(self) -> None:
        """Re-read the models folder in a worker (reading checkpoint headers may import torch, which
        takes a second: the first frame must not wait for it), then show the runs."""
        if not self.query_one(RunTable).runs:
            self.query_one("#runs-title", Static).update("Reading runs…")
        self._list_worker()

    @work(thread=True, exclusive=True, group="list-runs")
    def _list_worker(self) -> None:
        workbench = self.tinygpt.workbench
        runs = workbench.list_runs()
        self.app.call_from_thread(self.show_runs, runs)

    def show_runs(self, runs: list) -> None:
        """Show ``runs`` in the table, or the quick start when there are none."""
        workbench = self.tinygpt.workbench
        table = self.query_one(RunTable)
        table.set_runs(runs)
        empty = not runs
        table.display = not empty
        self.query_one("#quick-start").display = empty
        where = short_path(workbench.models_dir)
        if empty:
            self.query_one("#quick-start-text", Static).update(quick_start_text(where))
        self.query_one("#runs-title", Static).update(Text(
            f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {where}" if runs else ""))
        self._show_summary()
        self.refresh_bindings()
        # take focus only when the user has not put it somewhere (the command bar) meanwhile. The
        # quick-start button never takes it by itself: a training start must not ride on a stray Enter
        # (one pasted after /help, say); s, a click, or Tab then Enter starts it.
        if (self.focused is None or not self.focused.display) and not empty:
            table.focus()

    def _show_summary(self) -> None:
        table = self.query_one(RunTable)
        name = table.selected_run
        summary = self.query_one("#run-summary", Static)
        if name is None:
            summary.update("")
            return
        try:
            cfg = self.tinygpt.workbench.run_config(name)
        except Exception as err:  # a broken config.json must not take the list down
            summary.update(Text(f"{name}: {error_line(err)}"))  # the sentence is text, never markup
            return
        m, t, d = cfg.model, cfg.train, cfg.data
        summary.update(Text(  # the source is the user's text: never markup
            f"{name}: data {d.source} · tokenizer {cfg.tokenizer.kind}"
            f"{'' if cfg.tokenizer.kind != 'bpe' else ' ' + str(cfg.tokenizer.vocab_size)} · "
            f"{m.n_layer} layers × {m.n_head} heads × {m.n_embd} wide, context {m.block_size} · "
            f"batch {t.batch_size}, lr {t.lr:g}, {t.max_steps} steps{self._history(name)}"
        ))

    def _history(self, name: str) -> str:
        """`` · history N checkpoints (size)`` of a run that keeps one, for the summary line."""
        from ...units import human_bytes

        info = next((r for r in self.query_one(RunTable).runs if r.name == name), None)
        kept = getattr(info, "history", 0)
        return f" · history {kept} checkpoints ({human_bytes(info.history_bytes)}, F9 in the explorer)" if kept else ""

    @on(RunTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_summary()

    @on(RunTable.Chosen)
    def _chosen(self, event: RunTable.Chosen) -> None:
        self.tinygpt.open_run(event.run)

    @on(Button.Pressed, "#quick-start-button")
    def _quick(self) -> None:
        self.tinygpt.dialogs.quick_start()

    @on(Button.Pressed, "#new-run-button")
    def _new(self) -> None:
        self.action_new_run()

    def _selected(self) -> str | None:
        name = self.query_one(RunTable).selected_run
        if name is None:
            self.tinygpt.say("There are no runs yet. Hint: s starts the quick start, n creates a run.", error=True)
        return name

    def action_open_selected(self) -> None:
        name = self._selected()
        if name:
            self.tinygpt.open_run(name)

    def action_train_selected(self) -> None:
        name = self._selected()
        if name:
            self.tinygpt.show_training(name)

    def action_rename_selected(self) -> None:
        name = self._selected()
        if name:
            self.tinygpt.dialogs.rename(name)

    def action_delete_selected(self) -> None:
        name = self._selected()
        if name:
            self.tinygpt.dialogs.delete(name)

    def action_mark(self) -> None:
        """Mark the selected run for comparing (or unmark it); c compares the marked runs."""
        name = self._selected()
        if name:
            table = self.query_one(RunTable)
            table.toggle_mark(name)
            marked = table.marked
            self.tinygpt.say(f"{len(marked)} marked: {', '.join(marked)}. c compares them." if marked
                             else "No run is marked. Space marks the selected run.")

    def action_compare(self) -> None:
        """Compare the marked runs (the selected one alone when none is marked, with a word on space)."""
        table = self.query_one(RunTable)
        names = list(table.marked) or ([table.selected_run] if table.selected_run else [])
        if not names:
            self._selected()  # says there are no runs
            return
        self.tinygpt.show_compare(names)
        if not table.marked:
            self.tinygpt.say("Space marks runs on the runs screen: c then compares them all.")

    def action_quick_start(self) -> None:
        self.tinygpt.dialogs.quick_start()

    def action_leave_bar(self) -> None:
        """Escape: leave the command bar, so n, t, e are keys again (the run list takes focus)."""
        table = self.query_one(RunTable)
        if table.display:
            table.focus()
        else:
            self.set_focus(None)

    def action_new_run(self) -> None:
        self.tinygpt.dialogs.new_run()

    def action_open_hf(self) -> None:
        self.tinygpt.dialogs.ask_hf()

    def action_refresh(self) -> None:
        self.refresh_runs()
