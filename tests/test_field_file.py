"""The `field_file` source kind: a hand-written CF netCDF on a projected grid (CF grid mapping with `crs_wkt`, degC)
is read into the source contract and ingested onto a real Sentinel-2 tile with its structure intact."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import yaml
from pyproj import CRS

from tm_weather.catalog import load_catalog
from tm_weather.errors import InputError
from tm_weather.ingest import ingest
from tm_weather.sources.field_file import read_field_file
from tm_weather.sources.sentinel2 import read_s2l2a
from tm_weather.store import Store

TIME = np.datetime64("2017-10-30T10:41:51", "ns")
GRADIENT_K_PER_M = 0.001  # 1 K per km eastwards


def write_field(path, x0: float, y0: float, crs: str | None = "EPSG:32632") -> None:
    """A 30 m field around (x0, y0) m: T = 10 C + hour / 10 + 1 K/km east of x0, CF attributes written by hand."""
    x = x0 - 1500 + 30.0 * np.arange(101)
    y = y0 + 1500 - 30.0 * np.arange(101)
    hours = np.datetime64("2017-10-30T00", "ns") + np.arange(24) * np.timedelta64(1, "h")
    values = 10.0 + np.arange(24)[:, None, None] / 10 + GRADIENT_K_PER_M * (x[None, None] - x0) + 0 * y[None, :, None]
    attrs = {"units": "degC", "standard_name": "air_temperature"} | ({"grid_mapping": "crs"} if crs else {})
    ds = xr.Dataset(
        {"t2m": (("time", "y", "x"), values.astype(np.float32), attrs)},
        coords={"time": hours, "x": ("x", x, {"units": "m"}), "y": ("y", y, {"units": "m"})},
    )
    if crs:
        ds["crs"] = xr.DataArray(np.int32(0), attrs={"crs_wkt": CRS(crs).to_wkt()})
    ds.to_netcdf(path)


def test_a_projected_netcdf_is_read_and_ingested_onto_the_tile_with_its_structure(data_dir, tmp_path):
    s2_path = data_dir / "sentinel2" / "terramind-examples" / "S2L2A" / "637U_59R_1_3.tif"
    grid = read_s2l2a(s2_path, time=TIME).grid
    x0 = grid.transform.c + 1120.0
    y0 = grid.transform.f - 1120.0
    write_field(tmp_path / "fine.nc", x0, y0)

    da = read_field_file(tmp_path / "fine.nc")
    assert da.dtype == np.float32 and da.rio.crs.to_epsg() == 32632 and da.dims == ("time", "y", "x")
    assert float(da.isel(time=0).mean()) == pytest.approx(283.15, abs=0.01)
    assert 56 < float(da["latitude"].mean()) < 58  # North Jutland

    catalog_path = tmp_path / "catalog.yaml"
    catalog_path.write_text(yaml.safe_dump({
        "store": str(tmp_path / "store.zarr"), "cache_dir": str(tmp_path / "cache"),
        "sources": {"fine": {"kind": "field_file", "paths": [str(tmp_path / "fine.nc")]}},
        "sites": [{"name": "dk", "lat": float(da["latitude"].mean()), "lon": float(da["longitude"].mean())}],
        "tiles": [{"name": "dk", "s2": str(s2_path), "time": "2017-10-30T10:41:51Z", "boa_add_offset": 0}],
    }))
    report = ingest(load_catalog(catalog_path), start=None, end=None, progress=False)
    assert "fields/fine/dk/2017-10-30" in report.written and "hourly/fine/2017-10-30" in report.written
    field = Store(tmp_path / "store.zarr").read_partition("fields/fine/dk/2017-10-30")["t2m"]
    assert field.shape == (24, 224, 224)
    expected = 283.15 + GRADIENT_K_PER_M * (field["x"].values - x0)  # the hand-written gradient, hour 0
    np.testing.assert_allclose(field.isel(time=0).values, np.broadcast_to(expected, (224, 224)), atol=0.01)
    assert float(field.isel(time=0).std()) > 0.6  # 1 K/km over 2.24 km


def test_a_file_without_a_grid_mapping_is_refused(tmp_path):
    write_field(tmp_path / "nocrs.nc", 500000.0, 6300000.0, crs=None)
    with pytest.raises(InputError, match="grid mapping") as e:
        read_field_file(tmp_path / "nocrs.nc")
    assert "nocrs.nc" in str(e.value)
