"""The transformer's ensembles on a split's samples, and their scores: what `benchmarks/generation.py` and the
experiments (`experiments/`) measure.

A sample is one tile at one valid hour (`data.Samples`); an ensemble is `members` generated fields reduced to
the truth's 16-px block means, `(members, 14, 14)` K. Scores go through `tm_weather.verify.metrics` (the
`scores` package): RMSE, MAE and bias of the ensemble mean, fair CRPS and the spread-skill ratio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from tm_weather.model.data import Samples, Tokenizers, block_means
from tm_weather.model.generate import GenerationConfig, generate_t2m
from tm_weather.verify import metrics

#: What a forecaster conditions on: S-2 (with its NDVI), a DEM, the GFS series, place and time.
STANDARD = ("s2l2a", "ndvi", "dem", "gfs", "coords", "time")


def ensembles(model, tokenizers: Tokenizers, samples: Samples, rows: Sequence[int], conditions_of: Sequence[str],
              config: GenerationConfig, tim: bool = False, tokens: dict[str, torch.Tensor] | None = None,
              gfs: torch.Tensor | None = None, progress=None) -> np.ndarray:
    """Ensembles `(len(rows), members, 14, 14)` K of the samples `rows`, conditioned on the modalities
    `conditions_of` each sample has. `tokens` (`{name: (n_samples, length)}`) and `gfs` (`(n_samples, 24)` K)
    replace the samples' own (ablations); every sample uses the same seed (common random numbers)."""
    tokens = {**samples.tokens, **(tokens or {})}
    gfs = samples.gfs if gfs is None else gfs
    out = []
    for j, i in enumerate(rows):
        cond = {k: tokens[k][i] for k in conditions_of if bool(samples.present[k][i])}
        fields, _, _ = generate_t2m(model, tokenizers, cond, int(samples.hour[i]), config,
                                    gfs[i] if "gfs" in cond else None, tim)
        out.append(block_means(fields).numpy())
        if progress and (j + 1) % 20 == 0:
            progress(f"  {j + 1}/{len(rows)} samples")
    return np.stack(out)


def score(ensemble: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """`ensemble (n, members, 14, 14)` and `truth (n, 14, 14)` K -> RMSE, MAE and bias of the ensemble mean,
    fair CRPS, mean spread (member standard deviation) and spread-skill ratio, all K except the ratio."""
    fcst = xr.DataArray(ensemble, dims=("sample", metrics.MEMBER, "y", "x"))
    obs = xr.DataArray(truth, dims=("sample", "y", "x"))
    mean = fcst.mean(metrics.MEMBER)
    return {
        "rmse": float(metrics.rmse(mean, obs)),
        "mae": float(metrics.mae(mean, obs)),
        "bias": float(metrics.bias(mean, obs)),
        "crps": float(metrics.crps(fcst, obs, method="fair")),
        "spread": float(fcst.std(metrics.MEMBER).mean()),
        "spread_skill": float(metrics.spread_skill(fcst, obs)),
    }


def deterministic_score(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """`prediction`, `truth` `(n, 14, 14)` K -> RMSE, MAE and bias (K) of a single-valued forecast."""
    fcst, obs = xr.DataArray(prediction), xr.DataArray(truth)
    return {"rmse": float(metrics.rmse(fcst, obs)), "mae": float(metrics.mae(fcst, obs)),
            "bias": float(metrics.bias(fcst, obs))}
