"""`tm-weather train --catalog` on a user's own catalog, written here by hand (not by `tm-weather world`), with
physics unlike the benchmark world's, then `tm-weather generate` with the checkpoints it wrote.

The user's data: three Sentinel-2 tiles with DEMs (GeoTIFFs copied from the tiny world: any S-2 file would do),
the user's own truth as CF netCDF on each tile's UTM grid at 80 m in degrees Celsius (a steeper lapse rate,
-9.8 K/km, a 5 K diurnal cycle and a 2 K warm patch where NDVI is low), and GFS in Herbie's cache layout from
two cycles a day only (00Z and 12Z, so hours after 05Z use leads above 5 h) with a 1.5 K warm bias. Both parts
are fitted for a few steps (the tests check the plumbing and the hand-overs, not skill).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
import yaml

from daily_support import tiny_world
from model_support import one_thread, quick_validation  # noqa: F401  (fixtures)
from tm_weather.cli import main
from tm_weather.world.gfs import GFSGrid, gfs_path, write_gfs_file

DAYS = np.array(["2023-02-10", "2023-02-11"], dtype="datetime64[D]")
CELL_M = 80.0


def user_truth(s2: Path, dem: Path, out: Path) -> float:
    """Write the user's truth for one tile (hourly over `DAYS`, 80 m cells covering the tile plus one cell, degC);
    return the tile's mean truth in K (for the GFS written around it)."""
    with rasterio.open(s2) as src:
        crs, transform, (h, w) = src.crs, src.transform, src.shape
        red, nir = src.read(4).astype(float), src.read(8).astype(float)
    with rasterio.open(dem) as src:
        height = src.read(1).astype(float)
    k = int(CELL_M / transform.a)
    cells = lambda a: a.reshape(h // k, k, w // k, k).mean((1, 3))  # noqa: E731
    height, ndvi = cells(height), cells((nir - red) / (nir + red + 1e-6))
    height, ndvi = np.pad(height, 1, mode="edge"), np.pad(ndvi, 1, mode="edge")
    hours = (DAYS[0].astype("datetime64[h]") + np.arange(24 * len(DAYS))).astype("datetime64[ns]")
    hour = np.arange(len(hours)) % 24
    kelvin = (268.0 + 2.5 * np.sin(2 * np.pi * (hour - 9) / 24))[:, None, None] - 0.0098 * (height - 500.0)[None] \
        + 2.0 * (ndvi < 0.3)[None]
    x = transform.c + (np.arange(-1, w // k + 1) + 0.5) * CELL_M
    y = transform.f - (np.arange(-1, h // k + 1) + 0.5) * CELL_M
    da = xr.DataArray((kelvin - 273.15).astype(np.float32), dims=("time", "y", "x"),
                      coords={"time": hours, "y": y, "x": x}, attrs={"units": "degC", "long_name": "2 m temperature"})
    ds = da.to_dataset(name="t2m").rio.write_crs(crs)  # grid mapping `spatial_ref` with `crs_wkt`
    ds.to_netcdf(out)
    return float(kelvin.mean())


def user_gfs(cache: Path, lat: float, lon: float, level_k: float) -> None:
    """GFS files (00Z and 12Z runs of the day before and of `DAYS`, leads 0-12) on a 0.25 deg box around the tiles."""
    grid = GFSGrid.covering(np.array([lat]), np.array([lon]), margin_deg=1.0)
    shape = (grid.lat.size, grid.lon.size)
    for day in np.concatenate([[DAYS[0] - 1], DAYS]):
        for cycle in (0, 12):
            init = day.astype("datetime64[h]") + np.timedelta64(cycle, "h")
            for lead in range(13):
                hour = (cycle + lead) % 24
                t2m = np.full(shape, level_k + 1.5 + 2.0 * np.sin(2 * np.pi * (hour - 9) / 24))
                fields = {"prmsl": np.full(shape, 101325.0), "orography": np.full(shape, 500.0), "t2m": t2m,
                          "rh2m": np.full(shape, 80.0)}
                write_gfs_file(gfs_path(cache, init, lead), grid, init, lead, fields)


@pytest.fixture(scope="module")
def user_catalog(tmp_path_factory) -> Path:
    world = tiny_world(tmp_path_factory)  # only its S-2 and DEM GeoTIFFs are used (copied)
    root = tmp_path_factory.mktemp("user")
    names = ["alpha", "beta", "gamma"]
    tiles, sources, levels, lats, lons = [], {}, [], [], []
    for name, source in zip(names, ("tile00", "tile01", "tile02")):
        for kind in ("S2L2A", "DEM"):
            (root / kind).mkdir(exist_ok=True)
            shutil.copy(world / kind / f"{source}.tif", root / kind / f"{name}.tif")
        (root / "truth").mkdir(exist_ok=True)
        levels.append(user_truth(root / "S2L2A" / f"{name}.tif", root / "DEM" / f"{name}.tif", root / "truth" / f"{name}.nc"))
        sources[f"truth_{name}"] = {"kind": "field_file", "paths": [f"truth/{name}.nc"]}
        tiles.append({"name": name, "s2": f"S2L2A/{name}.tif", "dem": f"DEM/{name}.tif"})
        with rasterio.open(root / "S2L2A" / f"{name}.tif") as src:
            from pyproj import Transformer

            lon, lat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True).transform(*src.xy(112, 112))
        lats.append(lat)
        lons.append(lon)
    user_gfs(root / "herbie", float(np.mean(lats)), float(np.mean(lons)), float(np.mean(levels)))
    sources["gfs"] = {"kind": "gfs", "product": "pgrb2.0p25", "cycles": [0, 12], "fxx": list(range(13)), "priority": []}
    catalog = {"store": "store/user.zarr", "cache_dir": "herbie", "sources": sources, "tiles": tiles,
               "splits": {"train": {"tiles": names[:2], "start": "2023-02-10", "end": "2023-02-11"},
                          "val": {"tiles": names[2:], "start": "2023-02-10", "end": "2023-02-11"}}}
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return root / "catalog.yaml"


@pytest.mark.usefixtures("one_thread", "quick_validation")
def test_train_on_a_hand_written_catalog_then_generate(user_catalog, tmp_path, capsys):
    out, runs = tmp_path / "checkpoints", tmp_path / "runs"
    args = ["train", "--catalog", str(user_catalog), "--preset", "demo", "--steps", "6", "--out", str(out),
            "--run-dir", str(runs)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "anomaly-demo.safetensors" in printed and "transformer-demo.safetensors" in printed
    regression_card = yaml.safe_load((out / "anomaly-demo.yaml").read_text())
    card = yaml.safe_load((out / "transformer-demo.yaml").read_text())
    assert regression_card["data"]["catalog"] == str(user_catalog)
    held = regression_card["data"]["held_out_train_tile_days (error model)"]
    assert held > 0 and regression_card["data"]["train_tile_days"] + held == 4  # the error model's tiles held out
    assert card["data"]["catalog"] == str(user_catalog) and card["data"]["train_samples"] == 4 * 24
    assert card["regression"]["sha256"] == regression_card["sha256"]
    # the user's GFS has runs at 00Z and 12Z only: every hour came from the latest of them, leads 0..11
    from tm_weather.model.data import Samples

    samples = Samples.load(next((runs / "transformer").glob("samples-train-*.safetensors")))
    assert torch.equal(samples.lead[0], torch.arange(24.0) % 12)
    # the truth was degrees Celsius on an 80 m grid: the samples hold it in kelvin on the tile
    assert 250 < float(samples.profile.mean()) < 290

    root = user_catalog.parent
    target = tmp_path / "gamma.nc"
    assert main(["generate", "--s2", str(root / "S2L2A" / "gamma.tif"), "--dem", str(root / "DEM" / "gamma.tif"),
                 "--time", "2023-02-11T10:00", "--gfs", str(user_catalog), "--members", "3",
                 "--checkpoint", str(out / "transformer-demo.safetensors"), "--out", str(target)]) == 0
    with xr.open_dataset(target) as ds:
        assert ds["t2m"].shape == (3, 224, 224) and bool(np.isfinite(ds["t2m"]).all())
        assert ds.attrs["input_gfs_leads_h"].split() == [str(h % 12) for h in range(24)]
        assert ds.attrs["regression_sha256"] == regression_card["sha256"]
        assert 250 < float(ds["t2m_mean"].mean()) < 290
