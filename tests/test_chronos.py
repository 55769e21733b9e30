"""Chronos-style tokenization (the tokenizer study's baseline): quantization against brute force, and fewer values
per day costing accuracy on a smooth series."""

import numpy as np
import pytest

from tm_weather.tokenizers.chronos import BINS, LIMIT, chronos_rmse, tokens_for_rmse


def test_all_hours_equals_brute_force_nearest_bin_centre():
    rng = np.random.default_rng(0)
    x_k = rng.normal(280.0, 8.0, (5, 48)).astype(np.float32)
    x = x_k.astype(np.float64) - 273.15
    scale = np.abs(x).mean(axis=1, keepdims=True)
    width = 2 * LIMIT / BINS
    centres = -LIMIT + width * (np.arange(BINS) + 0.5)
    nearest = np.abs((x / scale)[..., None] - centres).argmin(-1)  # each value to its nearest bin centre
    want = np.sqrt(((centres[nearest] * scale - x) ** 2).mean())
    assert chronos_rmse(x_k, 24) == pytest.approx(want, rel=1e-12)
    assert 0 < want < width * scale.max()  # quantization error only: under one bin, in K


def test_fewer_values_per_day_is_worse_on_a_smooth_series():
    hours = np.arange(4 * 24)
    phase = np.linspace(0, 2 * np.pi, 6, endpoint=False)[:, None]
    x_k = 280.0 + 5.0 * np.sin(2 * np.pi * hours / 24 + phase) + 0.02 * hours  # diurnal cycle and a slow trend
    assert chronos_rmse(x_k, 24) < chronos_rmse(x_k, 2)
    assert chronos_rmse(x_k, 2, keep_last=True) < chronos_rmse(x_k, 2)  # interpolated, not extrapolated, tail
    assert chronos_rmse(x_k, 24, keep_last=True) == chronos_rmse(x_k, 24)
    with pytest.raises(ValueError):
        chronos_rmse(x_k, 5)


def test_tokens_for_rmse_interpolates_log_log():
    curve = [(1.0, 1.0), (4.0, 0.25)]
    assert tokens_for_rmse(curve, 0.5) == pytest.approx(2.0)
    assert np.isnan(tokens_for_rmse(curve, 2.0))
