"""The hand-overs between stages check themselves where they are made: `Tile`, `Samples`, `generate_tile`'s
dataset (`GFSInput`: tests/test_gfs_input.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import torch
import xarray as xr
from affine import Affine

from tm_weather.errors import InputError
from tm_weather.model.data import ARRAYS, Samples
from tm_weather.model.generate import check_generated
from tm_weather.model.transformer import MODALITIES
from tm_weather.series import TileGrid
from tm_weather.tiles import SIZE, Tile

GRID = TileGrid("EPSG:32632", Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5300000.0), (SIZE, SIZE))


def a_tile() -> Tile:
    return Tile("t", np.zeros((12, SIZE, SIZE), np.float32), np.zeros((SIZE, SIZE), np.float32),
                np.zeros((SIZE, SIZE), np.int64), GRID, 47.8, 10.3, np.datetime64("2023-02-12T10:00", "ns"))


def test_tile_checks_shapes_dtypes_and_grid():
    tile = a_tile()
    assert replace(tile, dem=None, lulc=None).dem is None
    for change, message in [({"reflectance": np.zeros((11, SIZE, SIZE), np.float32)}, "reflectance must be a float"),
                            ({"reflectance": None}, "reflectance must be a float"),
                            ({"dem": np.zeros((SIZE, SIZE), np.int64)}, "dem must be a float array"),
                            ({"lulc": np.zeros((SIZE, SIZE), np.float32)}, "lulc must be an integer array"),
                            ({"grid": TileGrid(GRID.crs, GRID.transform, (SIZE, 2 * SIZE))}, "grid with a CRS"),
                            ({"grid": None}, "grid with a CRS")]:
        with pytest.raises(ValueError, match=message):
            replace(tile, **change)


def some_samples(n: int = 3) -> Samples:
    tokens = {m.name: torch.zeros(n, m.length, dtype=torch.int64) for m in MODALITIES}
    present = {m.name: torch.ones(n, dtype=torch.bool) for m in MODALITIES}
    arrays = {"truth": torch.full((n, 14, 14), 280.0), **{k: torch.full((n, 24), 280.0) for k in ARRAYS[1:6]},
              **{k: torch.zeros(n, dtype=torch.int64) for k in ARRAYS[6:]}}
    return Samples(tokens, present, *arrays.values(), ["a"])


def test_samples_check_shapes_dtypes_tiles_and_kelvin():
    samples = some_samples()
    assert len(samples.select(torch.tensor([0, 2]))) == 2
    for change, error, message in [
        ({"truth": torch.full((3, 16, 16), 280.0)}, ValueError, r"truth must be torch.float32 \(3, 14, 14\)"),
        ({"lead": torch.zeros(3, 24, dtype=torch.int64)}, ValueError, "lead must be torch.float32"),
        ({"hour": torch.zeros(4, dtype=torch.int64)}, ValueError, r"must be torch\.\w+ \(4,"),
        ({"tokens": {}}, ValueError, "tokens.s2l2a must be torch.int64"),
        ({"tile": torch.ones(3, dtype=torch.int64)}, ValueError, "index its 1 tiles"),
        ({"truth": torch.full((3, 14, 14), 7.0)}, InputError, "Samples: truth values: expected kelvin"),
        ({"profile": torch.full((3, 24), 7.0)}, InputError, "Samples: profile values: expected kelvin"),
    ]:
        with pytest.raises(error, match=message):
            replace(samples, **change)


def a_generated(t2m: np.ndarray) -> xr.Dataset:
    y, x = GRID.centres()
    ds = xr.Dataset({"t2m": (("member", "y", "x"), t2m, {"units": "K"})}, coords={"y": y, "x": x})
    return ds.rio.write_crs(GRID.crs)


def test_generated_dataset_checks_its_grid_crs_and_kelvin():
    tile = a_tile()
    check_generated(a_generated(np.full((2, SIZE, SIZE), 280, np.float32)), tile)
    with pytest.raises(ValueError, match="float32 \\(member, y, x\\)"):
        check_generated(a_generated(np.full((2, SIZE, SIZE), 280.0)), tile)
    with pytest.raises(ValueError, match="needs the tile's CRS"):
        check_generated(a_generated(np.full((2, SIZE, SIZE), 280, np.float32)).drop_vars("spatial_ref"), tile)
    with pytest.raises(InputError, match="generated tile t: t2m values: expected kelvin"):
        check_generated(a_generated(np.full((2, SIZE, SIZE), 7, np.float32)), tile)
