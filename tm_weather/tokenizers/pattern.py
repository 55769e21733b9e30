"""The T2M field's spatial pattern at the tile's own scale: the field minus its tile mean (K).

The transformer's field tokens (`t2m_field`, a correlation-learning target) carry only the pattern; generated
fields take their within-tile part from the regression network (`model.anomaly`) instead. Why a tokenizer of its own: the `t2m_field` tokenizer learned ERA5 crops where each
16 px patch is a 0.25 deg cell (a 224 px image spans about 390 km, patterns of several kelvin), while a
Sentinel-2 tile spans 2.24 km and its T2M varies by a few tenths of a kelvin. On the full world's test tiles
that tokenizer decodes the true fields' patterns with 0.37 K RMSE, twice the patterns' own spread (0.18 K), so
a flat field beat it. This one is the same image tokenizer (`tm_weather.tokenizers.image`) normalised to
0.5 K and trained on truth fields regridded onto tiles (`series.regrid_to_tile`), minus their means.

Data: every train-split tile of a catalog at hours 0, 6, 12 and 18 of each whole UTC day of truth (random
quarter turns, flips and an amplitude stretch of 0.5..2 in training); held out: the val split's tiles.

    tm-weather tokenizers train --modality t2m_pattern [--data CATALOG]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.tiles import split_window, truth_source, whole_days
from tm_weather.tokenizers.image_data import ImageTask, augment, world_catalog

HOURS = (0, 6, 12, 18)
STRETCH = (0.5, 2.0)


def pattern(field: torch.Tensor) -> torch.Tensor:
    """Fields `(b, [c,] y, x)` K -> the same minus each field's mean over (y, x)."""
    return field - field.mean(dim=(-2, -1), keepdim=True)


def pattern_fields(catalog, split: str) -> torch.Tensor:
    """`(n, 1, 224, 224)` float32 K: truth patterns on each of `split`'s tiles at `HOURS` of every whole day."""
    from tm_weather.series import regrid_to_tile
    from tm_weather.sources.sentinel2 import read_s2l2a

    tiles, lo, hi = split_window(catalog, split)
    out = []
    for entry in tiles:
        grid = read_s2l2a(catalog.path(entry.s2), boa_add_offset=entry.boa_add_offset).grid
        truth = truth_source(catalog, entry.name)
        for day in whole_days(truth, lo, hi):
            hours = np.datetime64(day, "ns") + np.array(HOURS) * np.timedelta64(1, "h")
            field = regrid_to_tile(truth(hours), grid.crs, grid.transform, grid.shape).transpose("time", "y", "x")
            out.append(torch.from_numpy(np.ascontiguousarray(field.values, dtype=np.float32)))
    if not out:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "whole UTC days of truth on its tiles", "none")
    return pattern(torch.cat(out))[:, None]


def pattern_task(path: Path | None = None):
    """The tokenizer task on catalog `path` (default: the `full` benchmark world, built once into the cache)."""
    from tm_weather.catalog import load_catalog

    path = Path(path) if path else world_catalog()
    catalog = load_catalog(path)
    train, test = pattern_fields(catalog, "train"), pattern_fields(catalog, "val")

    def draw(gen: torch.Generator, batch: int) -> torch.Tensor:
        picks = train[torch.randint(0, len(train), (batch,), generator=gen)]
        stretch = torch.empty(batch, 1, 1, 1).uniform_(*STRETCH, generator=gen)
        return augment(picks, gen) * stretch

    data = (f"{path}: truth fields on the tiles minus their tile means, hours {HOURS} of each day; train split "
            f"{len(train)} fields (quarter turns, flips, amplitude x{STRETCH[0]}..{STRETCH[1]}), val split {len(test)} held out")
    return ImageTask("t2m_pattern", draw, test, data)
