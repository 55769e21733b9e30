"""The transformer's ensembles on a split's samples, and their scores: what `benchmarks/generation.py` and the
experiments (`experiments/`) measure.

A sample is one tile at one valid hour (`data.Samples`); an ensemble is `members` generated fields (the product's
sum: regression mean + sampled residuals) reduced to the truth's 16-px block means, `(members, 14, 14)` K. Scores go through `tm_weather.metrics` (the
`scores` package): RMSE, MAE and bias of the ensemble mean, fair CRPS and the spread-skill ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
import xarray as xr

from tm_weather import metrics
from tm_weather.model.data import Samples
from tm_weather.model.generate import GenerationConfig, generate_t2m
from tm_weather.tiles import GFSInput, Tile, read_tile

#: What a forecaster conditions on: S-2 (with its NDVI), a DEM, the GFS series, place and time.
STANDARD = ("s2l2a", "ndvi", "dem", "gfs", "coords", "time")


def ensembles(generator, catalog, samples: Samples, rows: Sequence[int], conditions_of: Sequence[str],
              config: GenerationConfig, tim: bool = False, tokens: dict[str, torch.Tensor] | None = None,
              gfs: torch.Tensor | None = None, edit=None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Ensembles `(len(rows), members, 14, 14)` K of the samples `rows` through the product's path
    (`generate.generate_t2m` with `generator`, a `generator.Generator`, on the tiles read from `catalog`),
    conditioned on the modalities `conditions_of` each sample has, and the regression means `(len(rows), 14, 14)`
    K. `tokens` (`{name: (n_samples, length)}`) and `gfs` (`(n_samples, 24)` K) replace the samples' own, and
    `edit(tile, i) -> tile` changes sample `i`'s tile before the regression sees it (ablations). Sample `i` is
    generated with seed `config.seed + i`: the same in every variant (common random numbers: differences between
    variants come from the inputs), independent between samples (one seed for all would give every sample's
    ensemble the same draws, and their errors one common offset)."""
    tokens = {**samples.tokens, **(tokens or {})}
    gfs = samples.gfs if gfs is None else gfs
    tiles: dict[str, Tile] = {}
    out, means = [], []
    for j, i in enumerate(rows):
        name = samples.tiles[int(samples.tile[i])]
        if name not in tiles:
            entry = next(t for t in catalog.tiles if t.name == name)
            tiles[name] = read_tile(catalog.path(entry.s2), entry.dem and catalog.path(entry.dem),
                                    entry.lulc and catalog.path(entry.lulc), None, entry.boa_add_offset, name)
        cond = {k: tokens[k][i] for k in conditions_of if bool(samples.present[k][i])}
        given = GFSInput(gfs[i].numpy(), samples.lead[i].numpy()) if "gfs" in cond else None
        time = np.datetime64(int(samples.valid[i]), "h")
        tile = tiles[name] if edit is None else edit(tiles[name], i)
        fields, _, mean, _ = generate_t2m(generator.model, generator.tokenizers, generator.regression, tile, cond,
                                          time, replace(config, seed=config.seed + int(i)), given, tim)
        out.append(metrics.block_means(fields.numpy()))
        means.append(metrics.block_means(mean.numpy()))
        if progress and (j + 1) % 100 == 0:
            progress(f"  {j + 1}/{len(rows)} samples")
    return np.stack(out), np.stack(means)


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
