"""Canonical names and units inside tm-weather, and the conversions from each source's own.

Inside the system temperature is `t2m`, float32, in kelvin; times are UTC `datetime64[ns]` without zone.
Sources convert at the boundary with `to_kelvin` and never later, and return the t2m contract `check_t2m` checks.
"""

from __future__ import annotations

import logging
from os import PathLike

import numpy as np

import xarray as xr

from tm_weather.errors import InputError

log = logging.getLogger(__name__)

T2M = "t2m"
T2M_ATTRS = {"standard_name": "air_temperature", "long_name": "2 metre temperature", "units": "K"}

#: Sentinel-2 L2A band order used by TerraMind (and by the real tiles in tests/data): 12 bands, no B10.
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")

#: Each source's own key for 2 m temperature.
SOURCE_KEYS = {
    "gfs": ":TMP:2 m above ground:",  # wgrib2 .idx search string (Herbie)
    "grib_shortname": "2t",  # ecCodes shortName (GFS, ERA5, URMA, RTMA)
    "arco_era5": "2m_temperature",  # ARCO-ERA5 zarr variable
    "cds_era5": "2m_temperature",  # CDS request variable
}

_KELVIN_UNITS = {"K", "k", "kelvin", "Kelvin", "degK"}
_CELSIUS_UNITS = {"C", "degC", "deg C", "°C", "celsius", "Celsius", "degrees_Celsius", "deg_C"}
_FAHRENHEIT_UNITS = {"F", "degF", "deg F", "°F", "fahrenheit", "Fahrenheit", "degrees_Fahrenheit"}

#: Plausible 2 m temperatures on Earth, in kelvin (record low -89.2 C, record high 56.7 C, with margin).
T2M_RANGE_K = (170.0, 340.0)


def to_kelvin(values: np.ndarray, units: str, where: str | PathLike, field: str = T2M) -> np.ndarray:
    """Convert temperatures to float32 kelvin, logging any conversion; unknown units raise `InputError`."""
    values = np.asarray(values, dtype=np.float64)
    if units in _KELVIN_UNITS:
        out = values
    elif units in _CELSIUS_UNITS:
        log.info("%s: %s converted from deg C to K", where, field)
        out = values + 273.15
    elif units in _FAHRENHEIT_UNITS:
        log.info("%s: %s converted from deg F to K", where, field)
        out = (values - 32.0) * 5.0 / 9.0 + 273.15
    else:
        raise InputError(where, f"{field} units", "K, deg C or deg F", repr(units))
    return out.astype(np.float32)


def check_kelvin_range(values: np.ndarray, where: str | PathLike, field: str = T2M) -> None:
    """Raise `InputError` if finite values fall outside `T2M_RANGE_K` (wrong units labelled as kelvin)."""
    values = np.asarray(values)
    if values.size == 0 or np.isnan(values).all():
        return
    lo, hi = float(np.fmin.reduce(values, axis=None)), float(np.fmax.reduce(values, axis=None))  # NaN-skipping
    if lo < T2M_RANGE_K[0] or hi > T2M_RANGE_K[1]:
        raise InputError(
            where, f"{field} values", f"kelvin within {T2M_RANGE_K[0]:.0f}..{T2M_RANGE_K[1]:.0f}", f"{lo:.2f}..{hi:.2f}"
        )


def check_t2m(da: xr.DataArray, where: str | PathLike) -> xr.DataArray:
    """Check `da` against the t2m contract every source returns; return it unchanged or raise `InputError` naming
    `where`. The contract: an `xr.DataArray` named `t2m`, float32, `units="K"`, with

    - time: either `time` (analyses, observations: the valid time) or `init_time` x `lead_time` (forecasts:
      `lead_time` is timedelta64, and a `valid_time(init_time, lead_time)` coordinate is attached), all UTC
      `datetime64[ns]` without zone;
    - space: either a grid, dims `(y, x)` with 1-D, strictly monotonic coordinates and a CRS written with
      rioxarray (`da.rio.crs`; EPSG:4326 with x = longitude and y = latitude in degrees for lat/lon grids, the
      projection's metres for projected grids such as URMA/RTMA's Lambert conformal), plus 2-D `latitude` and
      `longitude` coordinates for projected grids; or points, dim `station` with `latitude` and `longitude`
      coordinates.

    Missing values are NaN, never a fill number."""
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
