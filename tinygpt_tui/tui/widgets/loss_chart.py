"""The live loss chart: train and validation loss against the step (textual-plotext).

The train loss is a line (a reading every few steps); the validation loss a point per evaluation,
step 0 (the untrained model) included, with nothing interpolated between them."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class LossChart(PlotextPlot):
    """Plots two series keyed by step; :meth:`set_series` replaces them and redraws."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.train: dict[int, float] = {}
        self.val: dict[int, float] = {}

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_series(self, train: dict[int, float], val: dict[int, float]) -> None:
        self.train, self.val = dict(train), dict(val)
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("loss")
        plt.xlabel("step")
        if self.train:
            xs = sorted(self.train)
            plt.plot(xs, [self.train[x] for x in xs], label="train", marker="braille", color="cyan")
        if self.val:
            xs = sorted(self.val)
            # measured at evaluations only: one point each, nothing drawn in between
            plt.scatter(xs, [self.val[x] for x in xs], label="val", marker="o", color="orange")
        self.refresh()
