"""Chronos-style tokenization of temperature series: the baseline the FSQ series tokenizers are compared with.

Chronos (Ansari et al. 2024, "Chronos: Learning the Language of Time Series") turns a series into tokens with no
learned encoder: each series is mean-scaled (divided by the mean of its absolute values), the scaled values are
quantized to `BINS` uniform bins over [-`LIMIT`, `LIMIT`], and each value becomes one token (the bin index); a
token decodes to its bin centre times the series' scale. Here the series are T2M in deg C, and fewer tokens per
day are had by keeping every `24 / per_day`-th hour and interpolating back to hourly with a cubic spline (beyond
the last kept hour the spline extrapolates, unless `keep_last`).

Written by hand because no maintained library provides the Chronos quantizer on its own: the reference
implementation (`MeanScaleUniformBins` in amazon-science/chronos-forecasting) ships inside the forecasting package,
which depends on the model's stack (transformers, accelerate), for what is a dozen lines of numpy.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy.interpolate import CubicSpline

#: Bins and bin range in mean-scaled units. Chronos' vocabulary is 4,096 tokens (4,094 bins with centres on
#: [-15, 15], plus PAD and EOS); here all 4,096 are bins over [-15, 15], a hair finer than the paper's.
BINS, LIMIT = 4096, 15.0


def chronos_rmse(series_k: np.ndarray, per_day: int, keep_last: bool = False) -> float:
    """RMSE (K) of the Chronos-style path on `series_k (points, hours)` with `per_day` values kept per day
    (`per_day` divides 24; the series start at 00Z). The spline extrapolates the hours after the last kept one
    (the last `24 / per_day - 1` hours), which dominates the error of a short series at a few values per day;
    `keep_last` also keeps the series' last hour (one more token per series), so every hour is interpolated."""
    if 24 % per_day:
        raise ValueError(f"per_day must divide 24, got {per_day}")
    x = series_k.astype(np.float64) - 273.15
    scale = np.abs(x).mean(axis=1, keepdims=True)
    scale[scale == 0] = 1.0
    hours = np.arange(x.shape[1])
    kept = hours[:: 24 // per_day]
    if keep_last and kept[-1] != hours[-1]:
        kept = np.append(kept, hours[-1])
    edges = np.linspace(-LIMIT, LIMIT, BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    tokens = np.clip(np.digitize(x[:, kept] / scale, edges) - 1, 0, BINS - 1)
    values = centres[tokens] * scale
    recon = values if len(kept) == len(hours) else CubicSpline(kept, values, axis=1)(hours)
    return float(np.sqrt(((recon - x) ** 2).mean()))


def tokens_for_rmse(curve: list[tuple[float, float]], rmse: float) -> float:
    """Tokens/day at which a (tokens/day, RMSE) curve reaches `rmse`, log-log interpolated between points;
    NaN when `rmse` lies outside the curve's range."""
    curve = sorted(curve)
    for (t0, r0), (t1, r1) in pairwise(curve):
        if r0 >= rmse >= r1:
            f = np.log(r0 / rmse) / np.log(r0 / r1)
            return float(np.exp(np.log(t0) + f * np.log(t1 / t0)))
    return float("nan")
