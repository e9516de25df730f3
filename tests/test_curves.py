"""curves.py: debiased smoothing, values between measured steps, and y limits without the unstable start."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygpt_tui.curves import interpolate, smooth, y_range


@settings(deadline=None)  # a loaded machine must not fail a pure function on time
@given(st.floats(min_value=-1e6, max_value=1e6), st.integers(min_value=1, max_value=50),
       st.floats(min_value=0.0, max_value=0.99))
def test_a_constant_series_stays_constant_from_its_first_point(c, n, weight):
    assert smooth([c] * n, weight) == pytest.approx([c] * n, rel=1e-9, abs=1e-9)


def test_smoothing_follows_the_hand_computed_debiased_average():
    w = 0.5
    out = smooth([4.0, 2.0, 1.0], w)
    # m1 = 2, m2 = 1 + 1 = 2, m3 = 1 + 0.5 = 1.5; debiased by 1 - w^t
    assert out == pytest.approx([2 / 0.5, 2 / 0.75, 1.5 / 0.875])
    assert smooth([4.0, 2.0, 1.0], 0.0) == [4.0, 2.0, 1.0]  # no smoothing: the values themselves
    # a missing reading is skipped, not averaged in as zero
    assert smooth([4.0, None, math.nan, 2.0], w) == pytest.approx([4.0, None, None, 2 / 0.75])
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


def test_interpolate_reads_between_measured_steps():
    points = {10: 100.0, 20: 300.0}
    assert interpolate(points, 10) == 100.0
    assert interpolate(points, 15) == 200.0
    assert interpolate(points, 5) == 50.0 and interpolate(points, 0) == 0.0  # from (0, 0)
    assert interpolate(points, 30) == 300.0  # never extrapolated
    assert interpolate({}, 3) is None


def test_the_y_range_leaves_the_unstable_start_out():
    losses = [9.0, 5.0, 4.0, 3.5, 3.2, 3.0, 2.9, 2.8, 2.75, 2.7, 2.65, 2.6]
    lo, hi = y_range(losses, pad=0.0)
    assert (lo, hi) == (2.6, 4.0)  # the first 10% (two of twelve) left out: 9.0 and 5.0 no longer set the top
    lo, hi = y_range(losses, skip=0.0, pad=0.0)
    assert hi == 9.0
    assert y_range([3.0, 2.0], pad=0.0) == (2.0, 3.0)  # too short to leave anything out
    lo, hi = y_range([2.0, 2.0])  # flat: still a range
    assert lo < 2.0 < hi
    lo, hi = y_range([0.0, 1.0, 10.0, 100.0], log=True, pad=0.0)  # log: positive values only
    assert (lo, hi) == pytest.approx((1.0, 100.0))
    assert y_range([None, math.inf]) is None
