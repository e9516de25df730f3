"""The live charts (textual-plotext): the training screen's loss and learning rate, and the compare
screen's runs on one chart.

The loss chart draws each measured curve twice: the raw readings faint, and their debiased exponential
smoothing (curves.smooth) bold, so that the trend reads through the noise of small batches. The
validation loss is also a point per evaluation, step 0 (the untrained model) included. The x axis is
the step, the tokens seen or the wall time (:meth:`LossChart.cycle_axis`); the y axis linear or log
(:meth:`LossChart.toggle_log`); its range leaves the first unstable readings out (curves.y_range), so
the untrained model's loss does not flatten the rest of the curve.

:class:`RunsChart` draws several runs the same way, each in its own colour with its name in the legend:
their validation bits per byte (comparable across tokenizers) or their smoothed training loss.
"""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

from ...curves import AXES, interpolate, smooth, y_range
from ..guard import Guarded

AXIS_LABELS = {"step": "step", "tokens": "tokens seen", "time": "wall time (s)"}
RUN_COLOURS = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow", "white")
"""One colour per compared run, in order (the compare screen's table uses the same names)."""
METRICS = {"val": "validation bits per byte", "train": "training loss (smoothed)"}
"""What :class:`RunsChart` can draw, in the order a key cycles them."""


class LossChart(Guarded, PlotextPlot):
    """Plots train and validation loss keyed by step; :meth:`set_series` replaces them and redraws."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.train: dict[int, float] = {}
        self.val: dict[int, float] = {}
        self.tokens: dict[int, float] = {}
        self.seconds: dict[int, float] = {}
        """Tokens seen and elapsed seconds at the steps a step event measured them (the other x axes)."""
        self.axis = "step"
        self.log_y = False

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_series(self, train: dict[int, float], val: dict[int, float], *,
                   tokens: dict[int, float] | None = None, seconds: dict[int, float] | None = None) -> None:
        self.train, self.val = dict(train), dict(val)
        if tokens is not None:
            self.tokens = dict(tokens)
        if seconds is not None:
            self.seconds = dict(seconds)
        self.replot()

    def cycle_axis(self) -> str:
        """Step -> tokens -> time -> step; returns the new axis."""
        self.axis = AXES[(AXES.index(self.axis) + 1) % len(AXES)]
        self.replot()
        return self.axis

    def toggle_log(self) -> bool:
        self.log_y = not self.log_y
        self.replot()
        return self.log_y

    def x_of(self, steps: list[int]) -> list[float]:
        """The x values of ``steps`` on the current axis (tokens and time read between measurements)."""
        if self.axis == "step":
            return [float(s) for s in steps]
        known = self.tokens if self.axis == "tokens" else self.seconds
        return [v if (v := interpolate(known, s)) is not None else float(s) for s in steps]

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        # a log scale plots log10 of the loss on a linear axis: plotext's own log scale and a y range
        # do not mix (a legend whose series the range cut away crashes its renderer)
        plt.title("log10 loss" if self.log_y else "loss")
        plt.xlabel(AXIS_LABELS[self.axis])
        raw: list[float] = []
        for series, name, colour in ((self.train, "train", "cyan"), (self.val, "val", "orange")):
            steps = [s for s in sorted(series) if not self.log_y or series[s] > 0]
            if not steps:
                continue
            xs = self.x_of(steps)
            ys = [math.log10(series[s]) if self.log_y else series[s] for s in steps]
            raw += ys
            if name == "train":
                plt.plot(xs, ys, marker="braille", color="gray")  # the raw readings, faint
            else:  # measured at evaluations only: one point each
                plt.scatter(xs, ys, label=name, marker="o", color=colour)
            smoothed = smooth(ys)
            pairs = [(x, y) for x, y in zip(xs, smoothed, strict=True) if y is not None]
            if len(pairs) > 1:
                plt.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="braille", color=colour,
                         label=name if name == "train" else None)
        limits = y_range(raw)
        if limits is not None:
            plt.ylim(*limits)
        self.refresh()


class RateChart(Guarded, PlotextPlot):
    """The learning rate against the step: the schedule as it ran (warmup, decay, re-warmup)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lr: dict[int, float] = {}

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_series(self, lr: dict[int, float]) -> None:
        self.lr = dict(lr)
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("learning rate")
        if self.lr:
            xs = sorted(self.lr)
            plt.plot(xs, [self.lr[x] for x in xs], marker="braille", color="green")
        self.refresh()


class RunsChart(Guarded, PlotextPlot):
    """Several runs' curves on one chart (compare.RunSeries each): validation bits per byte at their
    evaluations, or their training loss smoothed (curves.smooth) over its faint raw readings; against
    the step, the tokens seen or the wall time; linear or log10 y."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Any] = []
        self.axis = "tokens"
        """Tokens seen: the fair x axis across runs whose batches differ."""
        self.metric = "val"
        self.log_y = False

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_series(self, series: list[Any]) -> None:
        self.series = list(series)
        self.replot()

    def cycle_axis(self) -> str:
        self.axis = AXES[(AXES.index(self.axis) + 1) % len(AXES)]
        self.replot()
        return self.axis

    def cycle_metric(self) -> str:
        names = list(METRICS)
        self.metric = names[(names.index(self.metric) + 1) % len(names)]
        self.replot()
        return self.metric

    def toggle_log(self) -> bool:
        self.log_y = not self.log_y
        self.replot()
        return self.log_y

    def x_of(self, run: Any, steps: list[int]) -> list[float]:
        """The x values of ``run``'s ``steps`` on the current axis, read off its step events."""
        if self.axis == "step":
            return [float(s) for s in steps]
        column = 1 if self.axis == "tokens" else 2
        known = {c[0]: c[column] for c in run.clock}
        return [v if (v := interpolate(known, s)) is not None else float(s) for s in steps]

    def points(self, run: Any) -> tuple[list[int], list[float]]:
        """(steps, y values) of ``run``'s curve for the current metric, log10 when the y axis is log."""
        pairs = [(s, b) for s, _t, b in run.val] if self.metric == "val" else list(run.train)
        pairs = [(s, y) for s, y in pairs if y is not None and (not self.log_y or y > 0)]
        return [s for s, _ in pairs], [math.log10(y) if self.log_y else y for _, y in pairs]

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        title = METRICS[self.metric]
        plt.title(f"log10 {title}" if self.log_y else title)
        plt.xlabel(AXIS_LABELS[self.axis])
        lows: list[float] = []
        highs: list[float] = []
        for i, run in enumerate(self.series):
            colour = RUN_COLOURS[i % len(RUN_COLOURS)]
            steps, ys = self.points(run)
            if not steps:
                continue
            xs = self.x_of(run, steps)
            if self.metric == "val":
                if len(xs) > 1:
                    plt.plot(xs, ys, marker="braille", color=colour, label=run.name)
                    plt.scatter(xs, ys, marker="•", color=colour)
                else:  # one evaluation: a point
                    plt.scatter(xs, ys, marker="•", color=colour, label=run.name)
            else:
                plt.plot(xs, ys, marker="braille", color="gray")  # the raw readings, faint
                smoothed = smooth(ys)
                pairs = [(x, y) for x, y in zip(xs, smoothed, strict=True) if y is not None]
                plt.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="braille", color=colour,
                         label=run.name)
            limits = y_range(ys)  # each run's own unstable start left out
            if limits is not None:
                lows.append(limits[0])
                highs.append(limits[1])
        if lows:
            plt.ylim(min(lows), max(highs))
        self.refresh()
