"""The training loop's speedometer: tokens per second over the steps since the last ``step`` event,
and the time left (the ETA) from a running average of the step time."""

from __future__ import annotations

from typing import Any


class StepMeter:
    """Folds each step's measured seconds into a throughput window and the ETA's average."""

    def __init__(self, tokens_per_step: int, resumed: bool):
        self.tokens_per_step = tokens_per_step
        self.resumed = resumed
        self.window_time, self.window_steps = 0.0, 0
        self.step_time_avg: float | None = None

    def add(self, step: int, dt: float) -> None:
        """Step ``step`` (1-based, after it ran) took ``dt`` seconds."""
        self.window_time += dt
        self.window_steps += 1
        # the first step (and a compile) is slow: keep it out of the average that feeds the ETA
        if step > 1 or self.resumed:
            avg = self.step_time_avg
            self.step_time_avg = dt if avg is None else 0.9 * avg + 0.1 * dt

    def read(self, step: int, elapsed: float, dt: float, tc: Any) -> tuple[float, float]:
        """(tokens per second over the window, seconds left), and a new window begins."""
        tps = self.window_steps * self.tokens_per_step / max(self.window_time, 1e-9)
        if tc.max_time:
            eta = max(0.0, tc.max_time - elapsed)
        else:
            eta = (tc.max_steps - step) * (self.step_time_avg or dt)
        self.window_time, self.window_steps = 0.0, 0
        return tps, eta
