"""Gridded 2 m temperature analyses on any projected (or latitude/longitude) grid, from CF netCDF files
(`kind: field_file`): a user's own high-resolution analysis, or the benchmark world's truth.

A file holds `t2m(time, y, x)` (or `2t`, any `tm_weather.lexicon.to_kelvin` unit, packed or not) with 1-D `x`, `y`
coordinates in the projection's units (metres) and a CF grid-mapping variable that carries the CRS as `crs_wkt`
or `spatial_ref` (what rioxarray's `write_crs` writes; CF grid-mapping attributes also work). The source returns
the contract of `tm_weather.lexicon.check_t2m`: float32 K `(time, y, x)`, the file's CRS, and 2-D `latitude` /
`longitude` coordinates of every cell; several files are merged along time (`tm_weather.sources.era5.merge_times`).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from pyproj import Transformer

from tm_weather.errors import InputError
from tm_weather.lexicon import T2M, T2M_ATTRS, check_t2m, to_kelvin
from tm_weather.sources.era5 import AnalysisFiles

#: Names a file may give 2 m temperature.
NAMES = ("t2m", "2t", "air_temperature_2m")


def read_field_file(path: str | PathLike) -> xr.DataArray:
    """One CF netCDF file of t2m `(time, y, x)` on a grid with a CRS -> the contract `(time, y, x)` with 2-D
    `latitude`/`longitude`. `InputError` naming the file for a missing file, variable, dimension or CRS."""
    path = Path(path)
    try:
        with xr.open_dataset(path, decode_coords="all") as ds:
            name = next((n for n in NAMES if n in ds.data_vars), None)
            if name is None:
                raise InputError(path, "variable", f"one of {', '.join(NAMES)}", str(sorted(ds.data_vars)))
            da = ds[name].load()
            crs = da.rio.crs or ds.rio.crs
    except (OSError, ValueError) as e:
        raise InputError(path, "file", "a readable netCDF file", str(e)[:160]) from e
    if set(da.dims) != {"time", "y", "x"}:
        raise InputError(path, f"{name} dimensions", "(time, y, x)", str(da.dims))
    if crs is None:
        raise InputError(path, "grid mapping", "a CRS (grid-mapping variable with crs_wkt or spatial_ref)", "none")
    da = da.transpose("time", "y", "x")
    values = to_kelvin(da.values.astype(np.float32), da.attrs.get("units"), path).astype(np.float32)
    x, y = da["x"].values.astype(np.float64), da["y"].values.astype(np.float64)
    out = xr.DataArray(
        values, dims=("time", "y", "x"), name=T2M, attrs=dict(T2M_ATTRS),
        coords={"time": da["time"].values.astype("datetime64[ns]"), "y": y, "x": x},
    ).rio.write_crs(crs)
    if not crs.is_geographic:
        px, py = np.meshgrid(x, y)
        lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(px, py)
        out = out.assign_coords(latitude=(("y", "x"), lat), longitude=(("y", "x"), lon))
    return check_t2m(out, path)


class FieldFiles(AnalysisFiles):
    """t2m from the catalog's projected netCDF field files (`kind: field_file`)."""

    read = staticmethod(read_field_file)
