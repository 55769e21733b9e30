"""One definition per idea: the UTC-day window, the lapse rate, the scoring block."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tm_weather.lapse import LAPSE_RATE_K_PER_M, lapse_adjust
from tm_weather.times import day_window


def test_day_window_spans_whole_utc_days_inclusive():
    lo, hi = day_window(dt.date(2023, 1, 2), dt.date(2023, 1, 3))
    assert lo == np.datetime64("2023-01-02T00:00", "ns") and hi == np.datetime64("2023-01-03T23:59:59.999999999")
    assert day_window(np.datetime64("2023-01-02T00:00", "ns"), np.datetime64("2023-01-02", "D"))[1] == \
        np.datetime64("2023-01-02T23:59:59.999999999")
    assert day_window(None, None) == (np.datetime64("1900-01-01", "ns"), np.datetime64("2200-01-01T23:59:59.999999999"))


def test_lapse_adjust_cools_with_height_and_keeps_float32():
    assert LAPSE_RATE_K_PER_M == -0.0065
    assert lapse_adjust(288.0, 0.0, 1000.0) == 288.0 - 6.5
    t = np.full(3, 280.0, np.float32)
    out = lapse_adjust(t, np.array([0.0, 100.0, 200.0], np.float32), np.float32(100.0))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [279.35, 280.0, 280.65], atol=1e-4)
