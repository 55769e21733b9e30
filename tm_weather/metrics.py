"""Scores, thin over the `scores` package, and the scale they are taken at: what the benchmarks (`model/skill.py`)
and the verify report (`verify/`) both measure with.

Every function takes xarray forecasts and observations (kelvin, any dims; NaN = missing, ignored), and the
`scores` reduction arguments: `reduce_dims` or `preserve_dims` (default: reduce every dim) and optional
`weights` (e.g. `latitude_weights`, broadcastable to the observations, no NaN). Ensemble forecasts carry a
`member` dim. Written by hand, because `scores` 2.7 lacks them: `acc` (the uncentred anomaly correlation of
WeatherBench 2) and `spread_skill` (only its arithmetic; the RMSE inside is `scores.continuous.rmse`).

Fields on a tile are scored as means over `SCORING_BLOCK` x `SCORING_BLOCK` pixel blocks (`block_means`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import warnings

import numpy as np
import scores
import xarray as xr

MEMBER = "member"
Dims = Iterable[Hashable] | None
#: Pixels per side of the blocks fields are scored on: 16 x 10 m = 160 m, the model's 14 x 14 tokens on a 224 px tile.
SCORING_BLOCK = 16


def block_means(values: np.ndarray, block: int = SCORING_BLOCK) -> np.ndarray:
    """`values` `(..., y, x)` averaged over `block` x `block` pixel blocks -> `(..., y // block, x // block)`
    (trailing pixels that fill no block dropped; NaN where a block has a NaN pixel). Each block is summed in
    row-major order in `values`' dtype, as `torch.nn.functional.avg_pool2d` does: the same bits."""
    *lead, h, w = values.shape
    ny, nx = h // block, w // block
    pixels = values[..., : ny * block, : nx * block].reshape(*lead, ny, block, nx, block)
    pixels = np.moveaxis(pixels, (-3, -1), (0, 1)).reshape(block * block, *lead, ny, nx)  # a C-order copy
    return pixels.sum(0) / values.dtype.type(block * block)


def latitude_weights(latitude: xr.DataArray) -> xr.DataArray:
    """cos(latitude) for lat/lon grids, latitude in degrees (any dims) -> the same dims, unitless."""
    return scores.functions.create_latitude_weights(latitude)


def rmse(fcst: xr.DataArray, obs: xr.DataArray, *, reduce_dims: Dims = None, preserve_dims: Dims = None,
         weights: xr.DataArray | None = None) -> xr.DataArray:
    """Root-mean-square error (K): sqrt(mean((fcst - obs)^2)) over the reduced dims."""
    return scores.continuous.rmse(fcst, obs, reduce_dims=reduce_dims, preserve_dims=preserve_dims, weights=weights)


def mae(fcst: xr.DataArray, obs: xr.DataArray, *, reduce_dims: Dims = None, preserve_dims: Dims = None,
        weights: xr.DataArray | None = None) -> xr.DataArray:
    """Mean absolute error (K)."""
    return scores.continuous.mae(fcst, obs, reduce_dims=reduce_dims, preserve_dims=preserve_dims, weights=weights)


def bias(fcst: xr.DataArray, obs: xr.DataArray, *, reduce_dims: Dims = None, preserve_dims: Dims = None,
         weights: xr.DataArray | None = None) -> xr.DataArray:
    """Mean error, fcst - obs (K): positive when the forecast is too warm."""
    return scores.continuous.additive_bias(
        fcst, obs, reduce_dims=reduce_dims, preserve_dims=preserve_dims, weights=weights
    )


def acc(fcst: xr.DataArray, obs: xr.DataArray, clim: xr.DataArray, *, reduce_dims: Dims = None,
        preserve_dims: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Anomaly correlation coefficient against climatology `clim` (K, broadcastable), unitless in -1..1:
    sum(w a_f a_o) / sqrt(sum(w a_f^2) sum(w a_o^2)) with a_f = fcst - clim, a_o = obs - clim, uncentred (as
    WeatherBench 2), over the points where both anomalies are finite."""
    fa, oa = scores.processing.broadcast_and_match_nan(fcst - clim, obs - clim)
    dims = _dims(fa, oa, reduce_dims, preserve_dims, weights)

    def mean(x: xr.DataArray) -> xr.DataArray:
        return scores.processing.aggregate(x, reduce_dims=dims, weights=weights)

    return mean(fa * oa) / np.sqrt(mean(fa**2) * mean(oa**2))


def crps(fcst: xr.DataArray, obs: xr.DataArray, *, method: str = "ecdf", member_dim: str = MEMBER,
         reduce_dims: Dims = None, preserve_dims: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Continuous ranked probability score of an ensemble (K): `method` "ecdf" (the ensemble's empirical CDF)
    or "fair" (unbiased for the ensemble size, Ferro 2014). NaN members are left out point by point."""
    return scores.probability.crps_for_ensemble(
        fcst, obs, member_dim, method=method, reduce_dims=reduce_dims, preserve_dims=preserve_dims, weights=weights
    )


def spread_skill(fcst: xr.DataArray, obs: xr.DataArray, *, member_dim: str = MEMBER, reduce_dims: Dims = None,
                 preserve_dims: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Spread-skill ratio, unitless: sqrt((M + 1) / M) * sqrt(mean ensemble variance (ddof 1)) / RMSE of the
    ensemble mean, with M members; 1 for a calibrated ensemble (Fortin et al. 2014), < 1 overconfident.
    Points where any member or the observation is NaN are left out."""
    m = fcst.sizes[member_dim]
    mean, var = fcst.mean(member_dim, skipna=False), fcst.var(member_dim, ddof=1, skipna=False)
    var, o = scores.processing.broadcast_and_match_nan(var, obs)
    mean = mean.where(np.isfinite(o))
    dims = _dims(var, o, reduce_dims, preserve_dims, weights)
    spread = np.sqrt(scores.processing.aggregate(var, reduce_dims=dims, weights=weights))
    return np.sqrt((m + 1) / m) * spread / rmse(mean, o, reduce_dims=dims, weights=weights)


def rank_histogram(fcst: xr.DataArray, obs: xr.DataArray, *, member_dim: str = MEMBER, reduce_dims: Dims = None,
                   preserve_dims: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Relative frequency of the observation's rank among the members, dim `rank` (1..M+1), ties shared
    equally; flat for a calibrated ensemble. An ensemble with a NaN member counts as missing (what `scores`
    warns about on every call: the documented behaviour here, so the warning is silenced)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Encountered a NaN in `fcst`", UserWarning)
        return scores.probability.rank_histogram(
            fcst, obs, member_dim, reduce_dims=reduce_dims, preserve_dims=preserve_dims, weights=weights
        )


def by_group(metric: Callable[..., xr.DataArray], fcst: xr.DataArray, obs: xr.DataArray, labels: xr.DataArray,
             dim: str, **kwargs) -> xr.DataArray:
    """`metric(fcst, obs, **kwargs)` over each group of samples sharing a label -> the result with a new dim
    `dim` (the sorted labels). `labels` is broadcastable to `obs` (e.g. land-cover class `(tile, y, x)`, hour
    of day `(tile, lead_time)`); NaN labels belong to no group."""
    labels = labels.broadcast_like(obs)
    values = np.unique(labels.values[~_isnan(labels.values)])
    out = [metric(fcst, obs.where(labels == v), **kwargs) for v in values]
    return xr.concat(out, dim=dim).assign_coords({dim: values})


def _isnan(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) if values.dtype.kind in "fc" else np.zeros(values.shape, dtype=bool)


def _dims(fcst: xr.DataArray, obs: xr.DataArray, reduce_dims: Dims, preserve_dims: Dims,
          weights: xr.DataArray | None) -> set[Hashable]:
    return scores.utils.gather_dimensions(
        fcst.dims, obs.dims, weights_dims=None if weights is None else weights.dims,
        reduce_dims=reduce_dims, preserve_dims=preserve_dims,
    )
