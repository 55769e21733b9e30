"""The data contract every source returns, and its check at the boundary.

A T2M source returns an `xr.DataArray` named `t2m`, float32, `units="K"`, with

- time: either `time` (analyses, observations: the valid time) or `init_time` x `lead_time` (forecasts:
  `lead_time` is timedelta64, and a `valid_time(init_time, lead_time)` coordinate is attached), all UTC
  `datetime64[ns]` without zone;
- space: either a grid, dims `(y, x)` with 1-D, strictly monotonic coordinates and a CRS written with
  rioxarray (`da.rio.crs`; EPSG:4326 with x = longitude and y = latitude in degrees for lat/lon grids, the
  projection's metres for projected grids such as URMA/RTMA's Lambert conformal), plus 2-D `latitude` and
  `longitude` coordinates for projected grids; or points, dim `station` with `latitude` and `longitude`
  coordinates.

Missing values are NaN, never a fill number.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Protocol

import numpy as np
import xarray as xr

from tm_weather.errors import InputError
from tm_weather.lexicon import T2M, check_kelvin_range


class Source(Protocol):
    """What every source class provides. Classes are built as `Cls(config, catalog)` (see `open_source`).

    `kind` says what `__call__` returns:
    - "analysis": `source(times)` -> t2m `(time, y, x)`, the fields valid at `times`;
    - "stations": `source(times)` -> t2m `(time, station)`, reports at `times` (NaN where a station has none);
    - "forecast": `source(init_times)` -> t2m `(init_time, lead_time, y, x)`, the configured lead times.
    """

    name: str
    kind: str

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """The valid times ("analysis", "stations") or init times ("forecast") the source offers in
        [start, end], as sorted `datetime64[ns]`: for files, what they hold; for servers, their schedule."""
        ...

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray: ...


def check_t2m(da: xr.DataArray, where: str | PathLike) -> xr.DataArray:
    """Check `da` against the contract above; return it unchanged or raise `InputError` naming `where`."""
    if da.name != T2M:
        raise InputError(where, "variable name", f"'{T2M}'", repr(da.name))
    if da.dtype != np.float32:
        raise InputError(where, T2M, "float32", str(da.dtype))
    if da.attrs.get("units") != "K":
        raise InputError(where, f"{T2M} units", "'K'", repr(da.attrs.get("units")))
    time_dims = [d for d in ("time", "init_time", "lead_time") if d in da.dims]
    if time_dims not in (["time"], ["init_time", "lead_time"]):
        raise InputError(where, "time dimensions", "'time' or 'init_time' + 'lead_time'", str(da.dims))
    for d in ("time", "init_time"):
        if d in da.dims and da[d].dtype != np.dtype("datetime64[ns]"):
            raise InputError(where, d, "datetime64[ns] (UTC, no zone)", str(da[d].dtype))
    if "lead_time" in da.dims:
        if da["lead_time"].dtype.kind != "m":
            raise InputError(where, "lead_time", "timedelta64", str(da["lead_time"].dtype))
        if "valid_time" not in da.coords:
            raise InputError(where, "valid_time", "a coordinate on forecasts", "none")
    if "station" in da.dims:
        for c in ("latitude", "longitude"):
            if c not in da.coords:
                raise InputError(where, c, "a coordinate on station data", "none")
    elif {"y", "x"} <= set(da.dims):
        if da.rio.crs is None:
            raise InputError(where, "CRS", "a CRS on the grid (rioxarray)", "none")
        for c in ("y", "x"):
            diffs = np.diff(da[c].values)
            if da[c].ndim != 1 or not (np.all(diffs > 0) or np.all(diffs < 0)):
                raise InputError(where, f"coordinate {c}", "1-D and strictly monotonic", "otherwise")
    else:
        raise InputError(where, "space dimensions", "(y, x) or station", str(da.dims))
    check_kelvin_range(da.values, where)
    return da
