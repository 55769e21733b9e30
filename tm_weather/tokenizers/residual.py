"""The GFS residual: the tile's 2 m temperature minus GFS at the tile, over a valid UTC day (24 h, K).

The transformer generates T2M *relative to the GFS forecast it is conditioned on* when it has one, as model
output statistics (MOS) do: profile = GFS series + generated residual, field = that profile's level at the valid
hour + the generated spatial pattern. Why not absolute levels: FSQ tokens are categories, and the shared
transformer would have to learn the map GFS tokens -> T2M tokens code by code from the few hundred (tile, day)
profiles of a training world; on unseen days and places its absolute profiles missed by 5.5 K (BENCHMARKS.md,
Generation), more than GFS itself. The residual lives in a few kelvin around 0 for any climate, so a small
tokenizer carries it (4 tokens: 0.31 K held-out RMSE, most of it the hour-to-hour noise no model predicts) and
the transformer only learns the correction (land cover, relief the lapse rate misses, hour of day, the lead).
Without GFS the absolute `t2m_hourly` profile is generated instead.

This module makes the residual tokenizer's data: windows `(n, 1, 24)` K, one per tile and whole UTC day of a
catalog split, of the truth at the tile centre (bilinear) minus the model's GFS input there (`tm_weather.tiles.gfs_series`:
lapse-rate corrected to the tile's DEM). Training draws are stretched by 0.5..2 and shifted by -2..2 K so the
tokenizer also covers corrections larger than the training world's. The tokenizer is `tm-weather tokenizers
train --modality t2m_residual [--data CATALOG]` (default data: the `full` benchmark world; held out: its val
split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.tiles import gfs_series, gfs_source, read_tile, split_window, truth_source, whole_days
from tm_weather.tokenizers.image_data import world_catalog
from tm_weather.tokenizers.series_data import SeriesTask

STRETCH = (0.5, 2.0)
SHIFT_K = 2.0


def residual_windows(catalog, split: str) -> np.ndarray:
    """`(n, 1, 24)` float32 K: truth minus GFS at each of `split`'s tile centres, per whole UTC day of truth."""
    from tm_weather.series import extract_points

    gfs = gfs_source(catalog)
    if gfs is None:
        raise InputError(catalog.root / "catalog.yaml", "sources", "a GFS forecast source (kind: gfs)", "none")
    tiles, lo, hi = split_window(catalog, split)
    runs: dict = {}
    windows = []
    for entry in tiles:
        tile = read_tile(catalog.path(entry.s2), entry.dem and catalog.path(entry.dem),
                         boa_add_offset=entry.boa_add_offset, name=entry.name)
        truth = truth_source(catalog, entry.name)
        for day in whole_days(truth, lo, hi):
            hours = np.datetime64(day, "ns") + np.arange(24) * np.timedelta64(1, "h")
            at = extract_points(truth(hours), [tile.lat], [tile.lon], [entry.name]).values[:, 0]
            windows.append(at - gfs_series(gfs, runs, day, tile).values)
    if not windows:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "whole UTC days of truth on its tiles", "none")
    return np.stack(windows)[:, None, :].astype(np.float32)


class ResidualTask(SeriesTask):
    """Residual windows of the train split (stretched and shifted at random), evaluated on the val split."""

    def draw(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        x = super().draw(gen, batch)
        stretch = torch.empty(batch, 1, 1).uniform_(*STRETCH, generator=gen)
        shift = torch.empty(batch, 1, 1).uniform_(-SHIFT_K, SHIFT_K, generator=gen)
        return x * stretch + shift


def residual_task(config, path: Path | None = None) -> ResidualTask:
    """The tokenizer task on catalog `path` (default: the `full` benchmark world, built once into the cache)."""
    from tm_weather.catalog import load_catalog

    path = Path(path) if path else world_catalog()
    catalog = load_catalog(path)
    train, val = residual_windows(catalog, "train"), residual_windows(catalog, "val")
    data = (f"{path}: truth minus lapse-corrected GFS at the tile centres, train split {len(train)} tile-days (stretched "
            f"{STRETCH[0]}..{STRETCH[1]}, shifted +-{SHIFT_K} K), val split {len(val)} tile-days held out")
    return ResidualTask(train, val, config.length, data)
