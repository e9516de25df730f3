"""Runs side by side (c on the runs screen, /compare RUN RUN...): their curves on one chart, each run
in its own colour with its name in the legend, and a table of each run's preset, parameters, tokens
seen, best validation bits per byte and time.

The facts are compare.py's (the same :class:`~tinygpt_tui.compare.RunSeries` that ``tinygpt compare``
prints). A run still training is followed: once a second a worker reads what its metrics gained since
the last read (compare.SeriesReader folds only the new events) and the chart and table are redrawn.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Header, Static

from ...config import TinyGPTError
from ...render_tables import best_bpb, comparison_cells
from ..widgets.command_bar import CommandBar
from ..widgets.footer import WorkbenchFooter
from ..widgets.loss_chart import METRICS, RUN_COLOURS, RunsChart
from .base import AppScreen

FOLLOW_SECONDS = 1.0
"""How often the metrics of runs that are training are read again."""

AXIS_WORDS = {"step": "the step", "tokens": "tokens seen", "time": "wall time"}
RICH_COLOURS = {"orange": "dark_orange"}
"""The Rich name of a chart colour where plotext's differs (the table's swatch matches the curve)."""


def comparison_table(series: list[Any]) -> Table:
    """The compared runs' facts, one row each, with the swatch of its colour on the chart; the best
    validation bits per byte in bold green."""
    table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    for name, justify in (("run", "left"), ("preset", "left"), ("params", "right"), ("tokens", "right"),
                          ("best bpb", "right"), ("time", "right")):
        table.add_column(name, justify=justify, no_wrap=name != "run")  # type: ignore[arg-type]
    best = best_bpb(series)
    for i, s in enumerate(series):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        name = Text("■ ", style=RICH_COLOURS.get(colour, colour))
        name.append(s.name)  # a folder's name: text, never markup
        if s.training:
            name.append(" ▶", style="bold green")
        table.add_row(name, *comparison_cells(s, best, len(series)))
    return table


class CompareScreen(AppScreen):
    """Several runs, finished or training, on one chart and in one table."""

    AUTO_FOCUS = ""  # nothing takes focus on its own (None would fall back to the app's "*")
    BINDINGS = [
        Binding("escape", "back", "Runs"),
        Binding("slash", "command", "Command", show=False),
        Binding("a", "axis", "x axis"),
        Binding("l", "log_scale", "Log y"),
        Binding("m", "metric", "Val/train"),
    ]

    def __init__(self, runs: list[str]) -> None:
        super().__init__()
        self.runs = list(dict.fromkeys(runs))
        self.series: list[Any] = []
        """The runs' :class:`~tinygpt_tui.compare.RunSeries`, as last read, in the order given."""
        self._readers: list[Any] = []
        """compare.SeriesReader per run: touched by the (one, exclusive) reading worker only."""
        self._follow = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"Reading {len(self.runs)} runs…"), id="compare-title")
        with Horizontal(id="compare-main"):
            yield RunsChart(id="compare-chart")
            with VerticalScroll(id="compare-side"):
                yield Static("", id="compare-table", markup=False)
                yield Static("", id="compare-note", markup=False)
        yield CommandBar("/compare RUN RUN... compares others, /help", id="command-bar")
        yield WorkbenchFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self._read()
        self.set_interval(FOLLOW_SECONDS, self._follow_tick)

    def _follow_tick(self) -> None:
        """Read again while a run trains (one that starts training meanwhile too: its lock says so)."""
        workbench = self.tinygpt.workbench
        if self._follow and self.series and (any(s.training for s in self.series)
                                             or any(workbench.is_training(name) for name in self.runs)):
            self._read()

    @work(thread=True, exclusive=True, group="compare-read")
    def _read(self) -> None:
        """Read (the first time) or follow each run's metrics; post the runs as they stand now."""
        from ...compare import SeriesReader

        models = self.tinygpt.workbench.models_dir
        try:
            if not self._readers:
                self._readers = [SeriesReader(models, name) for name in self.runs]
            for reader in self._readers:
                reader.read()
            series = [reader.series() for reader in self._readers]
        except (TinyGPTError, OSError) as err:  # deleted or renamed meanwhile: one sentence, stop following
            self._follow = False
            self.app.call_from_thread(self.tinygpt.say_error, err)
            return
        self.app.call_from_thread(self.show_series, series)

    def show_series(self, series: list[Any]) -> None:
        """Draw ``series`` (compare.RunSeries, one per run) on the chart and in the table."""
        if not self.is_mounted:
            return
        self.series = series
        self.query_one(RunsChart).set_series(series)
        self.query_one("#compare-table", Static).update(comparison_table(series))
        self._draw_title()
        notes = Text()
        waiting = [s.name for s in series if not s.val]
        if waiting:
            notes.append(f"Not evaluated yet, so not on the validation chart: {', '.join(waiting)}.\n",
                         style="yellow")
        for s in series:
            if s.unreadable:
                notes.append(f"{s.name}: {s.unreadable} lines of its metrics could not be read and were skipped.\n",
                             style="yellow")
        notes.append("bpb: validation bits per byte (lower is better; comparable across tokenizers). "
                     "▶ training: its curves grow.", style="dim")
        self.query_one("#compare-note", Static).update(notes)

    def _draw_title(self) -> None:
        chart = self.query_one(RunsChart)
        training = sum(s.training for s in self.series)
        n = len(self.series)
        line = Text(f" {n} run{'s' if n != 1 else ''} compared ", style="bold reverse")
        line.append(f"  {METRICS[chart.metric]} against {AXIS_WORDS[chart.axis]}{' (log10)' if chart.log_y else ''}")
        if training:
            line.append(f" · following {training} training", style="green")
        self.query_one("#compare-title", Static).update(line)

    # -- actions -----------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.tinygpt.show_runs()

    def action_axis(self) -> None:
        axis = self.query_one(RunsChart).cycle_axis()
        self._draw_title()
        self.tinygpt.say(f"curves against {axis}.")

    def action_log_scale(self) -> None:
        log = self.query_one(RunsChart).toggle_log()
        self._draw_title()
        self.tinygpt.say("log10 y axis." if log else "linear y axis.")

    def action_metric(self) -> None:
        metric = self.query_one(RunsChart).cycle_metric()
        self._draw_title()
        self.tinygpt.say("validation bits per byte: comparable across tokenizers." if metric == "val" else
                         "training loss in nats per token: comparable between runs of one tokenizer only.")
