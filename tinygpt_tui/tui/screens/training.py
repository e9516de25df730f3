"""The training screen: stages, progress, live loss chart, rates and the latest samples of one run.

While a process trains the run, the machine's side is sampled once a second (machine.py, by the
trainer's pid: its CPU and the machine's, its resident memory) and drawn under the progress bar, with
the GPU's utilisation and memory that the trainer itself reports in its step events.

It shows the run's history from ``metrics.jsonl`` when it opens, then the live events the app's
watcher forwards (:meth:`TrainingScreen.handle_event`). Events only change state; the widgets are
redrawn at most four times a second, so a fast training loop cannot flood the screen.
"""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Header, ProgressBar, Static

from ...events import Done, Error, Eval, Event, EventError, Start, Step, TrainingState, reduce
from ...machine import UNAVAILABLE, MachineSampler, Usage
from ...present import ended_sentence, error_line, source_label
from ...units import duration, human_bytes, human_count
from ..widgets.command_bar import CommandBar
from ..widgets.footer import WorkbenchFooter
from ..widgets.loss_chart import LossChart, RateChart
from ..widgets.story_view import StoryView
from .base import AppScreen

STAGES = ("corpus", "tokenizer", "shards", "model", "training")
SHORT = 32
"""Below this many rows the figures are drawn two a line."""
MAX_SAMPLES = 5
MACHINE_SECONDS = 1.0
LOSS_CHART_ROWS = 10
"""Rows the loss chart keeps (title, axes and a plot) before the learning-rate chart gets any."""
RATE_CHART_ROWS = 7
"""How often the trainer's CPU and memory are sampled."""


def fmt(value: Any, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def result_text(state: TrainingState) -> Text:
    """The end-of-training summary in this app's words: best validation bits per byte, tokens seen,
    time; an under-trained run says why, and that c continues it. Empty until a training finished."""
    out = Text()
    if state.status != "done" or state.reason not in ("finished", "time"):
        return out
    best = f"{state.best_val_bpb:.3f}" if state.best_val_bpb is not None else "-"
    out.append("result: ", style="bold")
    out.append(f"best val {best} bits/byte · {human_count(state.tokens)} tokens · {duration(state.elapsed_s)}")
    if state.undertrained:
        out.append("\nunder-trained: ", style="bold yellow")
        out.append(f"{state.undertrained_why}. Press c to continue (/continue 500 or /continue 2m for more).")
    else:
        out.append(" · trained to its plan", style="green")
    return out


def machine_text(usage: Usage | None, state: TrainingState, *, short: bool = False,
                 available: bool = True) -> Text:
    """The machine's side of a live training: the trainer's CPU (percent of one core, its processes
    together) and resident memory, the machine's CPU, and the GPU figures the trainer reports. Two or
    three lines; one or two on a ``short`` terminal. Empty when there is nothing to show."""
    out = Text()
    if usage is None and not available:
        out.append(UNAVAILABLE, style="dim")
        return out
    gpu = state.gpu_mem is not None or state.gpu_util is not None
    if usage is None and not gpu:
        return out
    if usage is not None:
        cpu = "measuring" if usage.cpu is None else f"{usage.cpu:.0f}%"
        machine = "-" if usage.machine_cpu is None else f"{usage.machine_cpu:.0f}%"
        rss = "-" if usage.rss is None else human_bytes(usage.rss)
        procs = f" in {usage.processes} processes" if usage.processes > 1 else ""
        if short:
            out.append("cpu ", style="bold")
            out.append(f"{cpu} (machine {machine})  ")
            out.append("rss ", style="bold")
            out.append(rss)
        else:
            out.append("trainer ", style="bold")
            out.append(f"cpu {cpu}  rss {rss}{procs}\n")
            out.append("machine ", style="bold")
            out.append(f"cpu {machine} of {usage.cores} cores")
    if gpu:
        util = "-" if state.gpu_util is None else f"{state.gpu_util:.0f}%"
        mem = "-" if state.gpu_mem is None else human_bytes(state.gpu_mem)
        total = f" of {human_bytes(state.gpu_mem_total)}" if state.gpu_mem_total else ""
        out.append("\n" if out else "")
        out.append("gpu " if short else "gpu     ", style="bold")
        out.append(f"{util}  mem {mem}{total}")
    return out


def tui_message(state: TrainingState) -> str:
    """How training ended (the state's sentence) for this app: a resumable run is trained again with
    s or /train."""
    message = ended_sentence(state.done) if state.done is not None else state.message or ""
    if state.status != "done" or not state.resumable:
        return message
    if (state.ended_in or "training") == "training":
        return f"{message} Press s or /train to resume."
    return f"{message.rstrip('.')}; press s or /train to continue."  # stopped while preparing


class TrainingScreen(AppScreen):
    """Watch, start, stop and resume the training of one run."""

    # keys like s and x are commands here, so nothing takes focus on its own ("/" opens the bar). An
    # empty selector, not None: None falls back to the app's "*", which focused the first scroll panel
    # and, on a short terminal, scrolled the screen down to centre it a moment after it opened
    AUTO_FOCUS = ""
    BINDINGS = [
        Binding("escape", "back", "Runs"),
        Binding("slash", "command", "Command", show=False),
        Binding("s", "start", "Start/resume"),
        Binding("x", "stop", "Stop"),
        Binding("c", "continue", "Continue"),
        Binding("e", "explore", "Explore"),
        Binding("a", "axis", "x axis"),
        Binding("l", "log_scale", "Log y"),
    ]

    def __init__(self, run: str) -> None:
        super().__init__()
        self.run = run
        self.state = TrainingState(run=run)
        """The run's training as the one reducer folds it: history, then live events."""
        self.train_loss: dict[int, float] = {}
        self.val_loss: dict[int, float] = {}
        self.lr: dict[int, float] = {}
        self.tokens: dict[int, float] = {}
        self.seconds: dict[int, float] = {}
        """The charts' series, by step (the state keeps only the latest figures)."""
        self.status: str = "idle"
        """This app's relation to the run: training, watching, stopping, done, error, stopped or idle."""
        self.show_end = False
        """Whether the header says how the last session ended (not once a new one was asked for)."""
        self._dirty = True
        self._chart_dirty = True
        self.sampler: MachineSampler | None = None
        self.usage: Usage | None = None
        """The latest reading of the trainer's process and its machine (None when nothing trains the run)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="train-header", markup=False)
        with Horizontal(id="train-main"):
            with Vertical(id="train-left"):
                yield Static("", id="train-stage", markup=False)
                yield ProgressBar(id="stage-progress", show_eta=False)
                yield Static("steps", id="train-progress-label", markup=False)
                yield ProgressBar(id="train-progress", show_eta=False)
                yield Static("", id="train-machine", markup=False)
                yield Static("", id="train-numbers", markup=False)
            with Vertical(id="train-charts"):
                yield LossChart(id="loss-chart")
                yield RateChart(id="lr-chart")
        # hidden until the run has a story (runs trained before stories existed never show it)
        with VerticalScroll(id="train-story-scroll"):
            yield StoryView(id="train-story")
        yield Static("latest samples", id="train-samples-title", markup=False)
        with VerticalScroll(id="train-samples-scroll"):
            yield Static("", id="train-samples", markup=False)
        yield CommandBar("/train to start or resume, /stop to stop, /help", id="command-bar")
        yield WorkbenchFooter()

    def on_mount(self) -> None:
        self._replay_history()
        self.set_interval(0.25, self._flush)
        self.set_interval(MACHINE_SECONDS, self.sample_machine)
        self._flush()

    def sample_machine(self) -> None:
        """Read the trainer's CPU and memory (its pid: this app's child, or the lock's owner) while it
        trains; forget them once it does not."""
        pid = (self.tinygpt.workbench.training_pid(self.run)
               if self.status in ("training", "watching", "stopping") else None)
        if pid is None:
            self.sampler = None
            if self.usage is not None:
                self.usage, self._dirty = None, True
            return
        if self.sampler is None or self.sampler.pid != pid:
            self.sampler = MachineSampler(pid)
        self.usage = self.sampler.sample()
        self._dirty = True

    def _replay_history(self) -> None:
        events, _ = self.tinygpt.workbench.read_events(self.run)
        for event in events:
            self.handle_event(event, live=False)
        if self.state.problem:  # metrics.jsonl has lines it cannot read: said once, the rest is shown
            self.tinygpt.say(error_line(self.state.problem, self.state.problem_hint), error=True)
        # history ends with a past session: what matters now is whether something trains it
        if self.status in ("training", "watching"):
            self.status = "idle"
        self._sync_status()

    def _sync_status(self) -> None:
        workbench = self.tinygpt.workbench
        ours = workbench.training.get(self.run)
        if ours is not None and ours.running:
            self.status = "stopping" if ours.stop_requested else "training"
        elif self.state.ended and self.status in ("training", "watching", "stopping"):
            self.status = self.state.status  # it said its last word: nothing trains it any more
        elif workbench.is_training(self.run):
            self.status = "watching"
        self._dirty = True

    # -- events ------------------------------------------------------------------------------------
    def handle_event(self, event: Event | EventError, live: bool = True) -> None:
        """Fold one training event into the screen's state (redrawn on the next tick)."""
        self.state = reduce(self.state, event)
        state = self.state
        if isinstance(event, Step):
            if state.loss is not None:
                self.train_loss[state.step] = state.loss
            self.lr[state.step] = event.lr
            self.tokens[state.step] = float(event.tokens)
            self.seconds[state.step] = event.elapsed_s
            self._chart_dirty = True
        elif isinstance(event, Eval) and state.val_loss is not None:
            self.val_loss[state.step] = state.val_loss
            self._chart_dirty = True
        if isinstance(event, (Done, Error)):
            self.status, self.show_end = state.status, True
        elif live:
            if isinstance(event, EventError):
                self.tinygpt.say_error(event)
            elif isinstance(event, Start):
                self.status, self.show_end = "training", False
            self._sync_status()
        self._dirty = True

    def training_ended(self, returncode: int | None) -> None:
        if self.status not in ("done", "error"):
            self.status = "stopped"
        self._dirty = True
        self._flush()

    # -- drawing -----------------------------------------------------------------------------------
    def _flush(self) -> None:
        if not self._dirty or not self.is_mounted or not self.query("#train-header"):
            return  # nothing new, or the screen is being taken down
        self._dirty = False
        self._draw_header()
        self._draw_progress()
        self._draw_numbers()
        self._draw_machine()
        self._draw_samples()
        self._draw_story()
        self.call_after_refresh(self._fit_charts)  # once the story panel has taken its rows
        if self._chart_dirty:
            self._chart_dirty = False
            self.query_one(LossChart).set_series(self.train_loss, self.val_loss, tokens=self.tokens,
                                                 seconds=self.seconds)
            self.query_one(RateChart).set_series(self.lr)

    def _draw_header(self) -> None:
        workbench = self.tinygpt.workbench
        try:
            cfg = workbench.run_config(self.run)
            shape = (f"preset {cfg.preset} · {cfg.tokenizer.kind} tokenizer · data {source_label(cfg.data.source)} · "
                     f"{cfg.model.n_layer}×{cfg.model.n_embd}, context {cfg.model.block_size}")
        except Exception as err:  # a broken config.json is shown, not raised
            shape = error_line(err)
        colours = {"training": "bold green", "watching": "bold cyan", "stopping": "bold yellow",
                   "done": "bold", "error": "bold red", "stopped": "yellow", "idle": "dim"}
        words = {"training": "training in this app", "watching": "trained by another process (watching)",
                 "stopping": "stopping: saving a checkpoint", "done": "done", "error": "failed",
                 "stopped": "stopped", "idle": "not training (s starts or resumes)"}
        line = Text()
        line.append(f" {self.run} ", style="bold reverse")
        line.append(f"  {shape}\n")
        line.append(words.get(self.status, self.status), style=colours.get(self.status, ""))
        state = self.state
        if self.show_end and state.status == "done":
            line.append(f"  {state.reason or ''}: {tui_message(state)}", style="dim")
            result = result_text(state)
            if result:
                line.append("\n")
                line.append_text(result)
        elif self.show_end and state.status == "error":
            line.append(f"  {error_line(state.message or '', state.hint)}", style="red")
        self.query_one("#train-header", Static).update(line)

    def _draw_progress(self) -> None:
        state = self.state
        stage_line = Text()
        live = state.status in ("training", "preparing")
        completed = state.status == "done" and state.reason in ("finished", "time")
        for name in STAGES:
            if name == state.stage and live:
                stage_line.append(f"▶{name} ", style="bold yellow")
            elif name == state.stage and completed:  # a finished run is not shown as still training
                stage_line.append(f"✓{name} ", style="green")
            elif name == state.stage:  # stopped or failed in this stage
                stage_line.append(f"■{name} ", style="bold red" if state.status == "error" else "yellow")
            elif state.stage in STAGES and STAGES.index(name) < STAGES.index(state.stage):
                stage_line.append(f"✓{name} ", style="green")
            else:
                stage_line.append(f"·{name} ", style="dim")
        if state.stage_message and state.stage != "training":
            stage_line.append(f"\n{state.stage_message}", style="dim")
        self.query_one("#train-stage", Static).update(stage_line)
        stage_bar = self.query_one("#stage-progress", ProgressBar)
        stage_bar.display = state.progress_done is not None
        if state.progress_done is not None:
            stage_bar.update(total=state.progress_total, progress=state.progress_done)
        self._draw_steps()

    def _draw_steps(self) -> None:
        state = self.state
        step, max_steps, max_time = state.step, state.max_steps, state.max_time
        if max_steps is None:  # no session started yet: the run's own budget
            try:
                train_cfg = self.tinygpt.workbench.run_config(self.run).train
                max_steps, max_time = train_cfg.max_steps, train_cfg.max_time
            except Exception:
                max_steps = None
        bar = self.query_one("#train-progress", ProgressBar)
        label = f"step {step:,} of {max_steps:,}" if max_steps else f"step {step:,}"
        complete = state.status == "done" and state.reason in ("finished", "time")
        if max_time:
            # a time budget ends the run first: measure progress in seconds (a finished budget is
            # full, though it stops early enough for the final evaluation to fit)
            elapsed = state.elapsed_s
            bar.update(total=float(max_time), progress=float(max_time) if complete else min(elapsed, float(max_time)))
            label = f"step {step:,} · {duration(elapsed)} of a {duration(max_time)} budget"
        else:
            bar.update(total=max_steps, progress=max_steps if complete and max_steps else step)
        self.query_one("#train-progress-label", Static).update(label)

    def _draw_numbers(self) -> None:
        s = self.state
        measured = s.tokens_per_s is not None  # a step was measured: its figures are shown
        warming = "warming up" if self.size.height >= SHORT else "warm-up"
        live = {
            "tokens/s": warming if s.warming_up and measured else fmt(s.tokens_per_s, ",.0f"),
            "ETA": (warming if s.warming_up else duration(s.eta_s)) if self.status in ("training", "watching") else "-",
            "elapsed": duration(s.elapsed_s) if measured else "-",
            "MFU": warming if s.warming_up and measured else "-" if s.mfu is None else f"{100 * s.mfu:.2f}%",
        }
        # (label, short label, value), the live figures near the top: a short panel scrolls the rest
        rows = [
            ("train loss", "loss", fmt(s.loss)),
            ("val bits/byte", "bits/byte", fmt(s.val_bpb)),
            ("tokens/s", "tokens/s", live["tokens/s"]),
            ("ETA", "ETA", live["ETA"]),
            ("elapsed", "elapsed", live["elapsed"]),
            ("MFU", "MFU", live["MFU"]),
            ("val loss", "val loss", fmt(s.val_loss)),
            ("best val loss", "best val", fmt(s.best_val_loss)),
            ("learning rate", "lr", fmt(s.lr, ".2e")),
            ("grad norm", "grad norm", fmt(s.grad_norm, ".3f")),
            ("tokens seen", "tokens", human_count(s.tokens) if s.tokens else "-"),
            ("parameters", "params", human_count(s.params)),
            ("device", "device", f"{s.device or '-'} {s.dtype}".strip()
             + (f" x {s.world_size} processes" if s.world_size > 1 else "")),
        ]
        if self.size.height >= SHORT:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", justify="right")
            grid.add_column()
            for label, _short, value in rows:
                grid.add_row(label, value)
        else:  # a short terminal: two figures a line, so that the live ones show without scrolling
            grid = Table.grid(padding=(0, 1))
            for justify in ("right", "left", "right", "left"):
                grid.add_column(style="bold" if justify == "right" else "", justify=justify)
            for i in range(0, len(rows), 2):
                pair = rows[i:i + 2]
                cells = [c for _label, short, value in pair for c in (short, value)]
                grid.add_row(*cells, *[""] * (4 - len(cells)))
        self.query_one("#train-numbers", Static).update(grid)

    def _draw_machine(self) -> None:
        live = self.status in ("training", "watching", "stopping")
        text = machine_text(self.usage, self.state, short=self.size.height < SHORT,
                            available=self.sampler is None or self.sampler.source is not None) if live else Text()
        panel = self.query_one("#train-machine", Static)
        panel.display = bool(text)
        panel.update(text)

    def _draw_story(self) -> None:
        self.query_one("#train-story-scroll").display = bool(self.state.story_tokens)
        self.query_one(StoryView).show(self.state)

    def on_resize(self) -> None:
        self._dirty = True

    def _fit_charts(self) -> None:
        """Show the learning-rate chart only where the loss chart keeps its rows: a story panel or a short
        terminal takes the room from the smaller chart first."""
        charts, rates = self.query("#train-charts"), self.query(RateChart)
        if not charts or not rates:  # called after a refresh: the screen may have been taken down meanwhile
            return
        fits = charts.first().size.height >= LOSS_CHART_ROWS + RATE_CHART_ROWS
        rate = rates.first()
        if rate.display != fits:
            rate.display = fits

    def _draw_samples(self) -> None:
        out = Text()
        samples = dict(self.state.samples)  # by step: a step sampled twice shows its latest text
        for step in sorted(samples)[-MAX_SAMPLES:][::-1]:
            out.append(f"step {step}: ", style="bold")
            out.append(samples[step].strip().replace("\n", " ↵ ") + "\n")
        if not samples:
            out.append("Samples appear at each evaluation.", style="dim")
        self.query_one("#train-samples", Static).update(out)

    # -- actions -----------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.tinygpt.show_runs()

    def action_start(self) -> None:
        self.show_end = False  # the end of the previous session is old news now
        self.tinygpt.training.start(self.run)
        self._sync_status()
        self._flush()

    def action_stop(self) -> None:
        self.tinygpt.training.stop(self.run)
        self._sync_status()
        self._flush()

    def action_continue(self) -> None:
        """Train this run further from its checkpoint: its preset's budget again."""
        if self.status in ("training", "stopping", "watching"):
            self.tinygpt.say(f"{self.run} is training now; c continues it once it has ended.", error=True)
            return
        self.show_end = False
        self.tinygpt.continue_training(self.run)
        self._sync_status()
        self._flush()

    def action_axis(self) -> None:
        """Draw the loss against the step, the tokens seen or the wall time, in turn."""
        axis = self.query_one(LossChart).cycle_axis()
        self.tinygpt.say(f"loss against {axis}.")

    def action_log_scale(self) -> None:
        log = self.query_one(LossChart).toggle_log()
        self.tinygpt.say("loss on a log scale." if log else "loss on a linear scale.")

    def action_explore(self) -> None:
        if not self.tinygpt.workbench.has_weights(self.run):
            self.tinygpt.say(f"{self.run} has no weights yet: the first checkpoint comes at the first "
                         "evaluation.", error=True)
            return
        self.tinygpt.load_run(self.run)
