"""The training screen: stages, progress, live loss chart, rates and the latest samples of one run.

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
from textual.widgets import Footer, Header, ProgressBar, Static

from ...present import error_line
from ...units import duration, human_count
from ..widgets.command_bar import CommandBar
from ..widgets.loss_chart import LossChart
from .base import AppScreen

STAGES = ("corpus", "tokenizer", "shards", "model", "training")
MAX_SAMPLES = 5


def fmt(value: Any, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def tui_message(event: dict[str, Any]) -> str:
    """A done or error event's sentence for this app: a resumable run is trained again with s or /train."""
    message = str(event.get("message", ""))
    if event.get("event") != "done" or not event.get("resumable"):
        return message
    if event.get("stage", "training") == "training":
        return f"{message} Press s or /train to resume."
    return f"{message.rstrip('.')}; press s or /train to continue."  # stopped while preparing


class TrainingScreen(AppScreen):
    """Watch, start, stop and resume the training of one run."""

    # keys like s and x are commands here, so nothing takes focus on its own ("/" opens the bar)
    AUTO_FOCUS = None
    BINDINGS = [
        Binding("escape", "back", "Runs"),
        Binding("slash", "command", "Command", show=False),
        Binding("s", "start", "Start/resume"),
        Binding("x", "stop", "Stop"),
        Binding("e", "explore", "Explore"),
    ]

    def __init__(self, run: str) -> None:
        super().__init__()
        self.run = run
        self.train_loss: dict[int, float] = {}
        self.val_loss: dict[int, float] = {}
        self.last_step: dict[str, Any] = {}
        self.start_event: dict[str, Any] = {}
        self.last_eval: dict[str, Any] = {}
        self.best_val: float | None = None
        self.best_bpb: float | None = None
        self.samples: dict[int, str] = {}
        self.stage: str = ""
        self.stage_message: str = ""
        self.progress: tuple[int, int | None] | None = None
        self.status: str = "idle"
        self.final: dict[str, Any] | None = None
        self._dirty = True
        self._chart_dirty = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="train-header")
        with Horizontal(id="train-main"):
            with Vertical(id="train-left"):
                yield Static("", id="train-stage")
                yield ProgressBar(id="stage-progress", show_eta=False)
                yield Static("steps", id="train-progress-label")
                yield ProgressBar(id="train-progress", show_eta=False)
                yield Static("", id="train-numbers")
            yield LossChart(id="loss-chart")
        yield Static("latest samples", id="train-samples-title")
        with VerticalScroll(id="train-samples-scroll"):
            yield Static("", id="train-samples")
        yield CommandBar("/train to start or resume, /stop to stop, /help", id="command-bar")
        yield Footer()

    def on_mount(self) -> None:
        self._replay_history()
        self.set_interval(0.25, self._flush)
        self._flush()

    def _replay_history(self) -> None:
        engine = self.tinygpt.engine
        events, _ = engine.read_metrics(self.run)
        for event in events:
            self.handle_event(event, live=False)
        # history ends with a past session: what matters now is whether something trains it
        if self.status in ("training", "watching"):
            self.status = "idle"
        self._sync_status()

    def _sync_status(self) -> None:
        engine = self.tinygpt.engine
        ours = engine.training.get(self.run)
        if ours is not None and ours.alive:
            self.status = "stopping" if ours.stop_requested else "training"
        elif engine.is_training(self.run):
            self.status = "watching"
        self._dirty = True

    # -- events ------------------------------------------------------------------------------------
    def handle_event(self, event: dict[str, Any], live: bool = True) -> None:
        """Fold one training event into the screen's state (redrawn on the next tick)."""
        kind = event.get("event")
        if kind == "stage":
            self.stage = str(event.get("stage", ""))
            self.stage_message = str(event.get("message", ""))
            self.progress = None
        elif kind == "progress":
            self.stage = str(event.get("stage", self.stage))
            self.progress = (int(event.get("done", 0)), event.get("total"))
        elif kind == "start":
            self.start_event = event
            self.stage, self.stage_message, self.progress = "training", "training", None
            self.final = None
            if live:
                self.status = "training"
        elif kind == "step":
            self.last_step = event
            if event.get("loss") is not None:
                self.train_loss[int(event["step"])] = float(event["loss"])
                self._chart_dirty = True
        elif kind == "eval":
            self.last_eval = event
            if event.get("val_loss") is not None:
                self.val_loss[int(event["step"])] = float(event["val_loss"])
                self._chart_dirty = True
                if self.best_val is None or float(event["val_loss"]) <= self.best_val or event.get("best"):
                    self.best_val = float(event["val_loss"])
                    self.best_bpb = event.get("val_bpb")
        elif kind == "sample":
            self.samples[int(event.get("step", 0))] = str(event.get("text", ""))
        elif kind == "done":
            self.final = event
            self.status = "done"
        elif kind == "error":
            self.final = event
            self.status = "error"
        if live and kind not in ("done", "error"):
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
        self._draw_samples()
        if self._chart_dirty:
            self._chart_dirty = False
            self.query_one(LossChart).set_series(self.train_loss, self.val_loss)

    def _draw_header(self) -> None:
        engine = self.tinygpt.engine
        try:
            cfg = engine.run_config(self.run)
            shape = (f"preset {cfg.preset} · {cfg.tokenizer.kind} tokenizer · data {cfg.data.source} · "
                     f"{cfg.model.n_layer}×{cfg.model.n_embd}, context {cfg.model.block_size}")
        except Exception as err:  # a broken config.json is shown, not raised
            shape = str(getattr(err, "message", err))
        colours = {"training": "bold green", "watching": "bold cyan", "stopping": "bold yellow",
                   "done": "bold", "error": "bold red", "stopped": "yellow", "idle": "dim"}
        words = {"training": "training in this app", "watching": "trained by another process (watching)",
                 "stopping": "stopping: saving a checkpoint", "done": "done", "error": "failed",
                 "stopped": "stopped", "idle": "not training (s starts or resumes)"}
        line = Text()
        line.append(f" {self.run} ", style="bold reverse")
        line.append(f"  {shape}\n")
        line.append(words.get(self.status, self.status), style=colours.get(self.status, ""))
        if self.final is not None:
            message = tui_message(self.final)
            if self.final.get("event") == "done":
                line.append(f"  {self.final.get('reason', '')}: {message}", style="dim")
            else:
                hint = self.final.get("hint")
                line.append(f"  {error_line(message, hint)}", style="red")
        self.query_one("#train-header", Static).update(line)

    def _draw_progress(self) -> None:
        stage_line = Text()
        for name in STAGES:
            if name == self.stage:
                stage_line.append(f"▶{name} ", style="bold yellow")
            elif self.stage in STAGES and STAGES.index(name) < STAGES.index(self.stage):
                stage_line.append(f"✓{name} ", style="green")
            else:
                stage_line.append(f"·{name} ", style="dim")
        if self.stage_message and self.stage != "training":
            stage_line.append(f"\n{self.stage_message}", style="dim")
        self.query_one("#train-stage", Static).update(stage_line)
        stage_bar = self.query_one("#stage-progress", ProgressBar)
        if self.progress is not None:
            done, total = self.progress
            stage_bar.display = True
            stage_bar.update(total=total, progress=done)
        else:
            stage_bar.display = False
        step = int(self.last_step.get("step", self.start_event.get("step", 0)) or 0)
        max_steps = self.start_event.get("max_steps")
        max_time = self.start_event.get("max_time")
        if max_steps is None:
            try:
                train_cfg = self.tinygpt.engine.run_config(self.run).train
                max_steps, max_time = train_cfg.max_steps, train_cfg.max_time
            except Exception:
                max_steps = None
        bar = self.query_one("#train-progress", ProgressBar)
        label = f"step {step:,} of {max_steps:,}" if max_steps else f"step {step:,}"
        if max_time:
            # a time budget ends the run first: measure progress in seconds
            elapsed = float(self.last_step.get("elapsed_s") or 0.0)
            bar.update(total=float(max_time), progress=min(elapsed, float(max_time)))
            label = f"step {step:,} · {duration(elapsed)} of a {duration(max_time)} budget"
        else:
            bar.update(total=max_steps, progress=step)
        self.query_one("#train-progress-label", Static).update(label)

    def _draw_numbers(self) -> None:
        s, e, st = self.last_step, self.last_eval, self.start_event
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", justify="right")
        grid.add_column()
        mfu = s.get("mfu")
        rows = [
            ("train loss", fmt(s.get("loss"))),
            ("val loss", fmt(e.get("val_loss"))),
            ("best val loss", fmt(self.best_val)),
            ("val bits/byte", fmt(e.get("val_bpb"))),
            ("learning rate", fmt(s.get("lr"), ".2e")),
            ("tokens/s", fmt(s.get("tokens_per_s"), ",.0f")),
            ("MFU", "-" if mfu is None else f"{100 * float(mfu):.2f}%"),
            ("grad norm", fmt(s.get("grad_norm"), ".3f")),
            ("elapsed", duration(s.get("elapsed_s"))),
            ("ETA", duration(s.get("eta_s")) if self.status in ("training", "watching") else "-"),
            ("parameters", human_count(st.get("params"))),
            ("device", f"{st.get('device', '-')} {st.get('dtype', '')}".strip()),
        ]
        for label, value in rows:
            grid.add_row(label, value)
        self.query_one("#train-numbers", Static).update(grid)

    def _draw_samples(self) -> None:
        out = Text()
        for step in sorted(self.samples)[-MAX_SAMPLES:][::-1]:
            out.append(f"step {step}: ", style="bold")
            out.append(self.samples[step].strip().replace("\n", " ↵ ") + "\n")
        if not self.samples:
            out.append("Samples appear at each evaluation.", style="dim")
        self.query_one("#train-samples", Static).update(out)

    # -- actions -----------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.tinygpt.show_runs()

    def action_start(self) -> None:
        self.final = None
        self.tinygpt.training.start(self.run)
        self._sync_status()
        self._flush()

    def action_stop(self) -> None:
        self.tinygpt.training.stop(self.run)
        self._sync_status()
        self._flush()

    def action_explore(self) -> None:
        if not self.tinygpt.engine.has_weights(self.run):
            self.tinygpt.say(f"{self.run} has no weights yet: the first checkpoint comes at the first "
                         "evaluation.", error=True)
            return
        self.tinygpt.load_run(self.run)
