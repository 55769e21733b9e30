"""A generated T2M ensemble (the CF netCDF `tm-weather generate` writes), read and checked at the boundary.

Accepted layout: variable `t2m` in kelvin with dims `(member, y, x)`, optionally led by `lead_time` (with a
scalar `init_time` coordinate: valid = init + lead) or by `time` (valid times; with a scalar `init_time` the
leads are time - init); a scalar `time` (or `valid_time`) coordinate when there is no leading dim (as
`tm-weather generate` writes). `init_time` may also be a global attribute (ISO 8601, UTC). A prediction with
valid times but no `init_time` counts as lead 0. The tile's CRS is read from the CF grid mapping (rioxarray);
the tile's name from the global attribute `tile`, else the stem of the `input_s2` attribute (generate's
provenance), else the file's stem. Several files of one tile (e.g. one per valid time) are joined along
`lead_time` by `read_predictions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr

from tm_weather.errors import InputError
from tm_weather.lexicon import T2M, check_kelvin_range
from tm_weather.series import TileGrid
from tm_weather.files import file_format
from tm_weather.times import utc_time
from tm_weather.metrics import MEMBER

LEAD = "lead_time"


@dataclass(frozen=True)
class TilePrediction:
    """One tile's ensemble: `t2m` float32 K `(lead_time, member, y, x)` with the tile's CRS, coordinates
    `lead_time` (timedelta64) and `valid_time` `(lead_time,)` (UTC datetime64[ns]); `tile` its name; `attrs`
    the file's global attributes (provenance)."""

    path: Path
    tile: str
    t2m: xr.DataArray
    attrs: dict

    @property
    def grid(self) -> TileGrid:
        return TileGrid.of(self.t2m)

    @property
    def valid_time(self) -> np.ndarray:
        return self.t2m["valid_time"].values


def read_prediction(path: str | Path) -> TilePrediction:
    """Read and check a generated ensemble file (see the module docstring); `InputError` names what is wrong."""
    path = Path(path)
    file_format(path, ("netCDF",))  # a bounded read first: /dev/zero is not a netCDF file
    try:
        ds = xr.open_dataset(path, decode_coords="all", decode_timedelta=True)
    except (OSError, ValueError) as e:
        raise InputError(path, "file", "a readable netCDF file", str(e)) from e
    with ds:
        if T2M not in ds:
            raise InputError(path, "variable", f"'{T2M}'", str(sorted(ds.data_vars)))
        da = ds[T2M].load()
        attrs = dict(ds.attrs)
    tile = str(attrs.get("tile", Path(str(attrs.get("input_s2", path))).stem))
    if "init_time" in attrs and "init_time" not in da.coords:
        da = da.assign_coords(init_time=utc_time(str(attrs["init_time"]), path, "init_time attribute"))
    units = da.attrs.get("units")
    if units != "K":
        raise InputError(path, f"{T2M} units", "'K' (kelvin)", repr(units))
    check_kelvin_range(da.values, path)
    if not np.isfinite(da.values).any():
        raise InputError(path, T2M, "a field with finite values", "NaN everywhere")
    if da.rio.crs is None:
        raise InputError(path, "CRS", "a CF grid mapping giving the tile's CRS", "none")
    da = _with_lead_time(da, path)
    if tuple(da.dims) != (LEAD, MEMBER, "y", "x"):
        raise InputError(path, f"{T2M} dims", "(member, y, x), optionally led by lead_time or time", str(da.dims))
    return TilePrediction(path, tile, da.astype(np.float32), attrs)


def read_predictions(paths: list[Path]) -> list[TilePrediction]:
    """Read every file; files of the same tile (on the same grid, with distinct lead times) are joined along
    `lead_time`, ordered by lead. Tiles in the order first seen."""
    by_tile: dict[str, list[TilePrediction]] = {}
    for p in map(read_prediction, paths):
        by_tile.setdefault(p.tile, []).append(p)
    out = []
    for tile, parts in by_tile.items():
        for p in parts[1:]:
            if differs := parts[0].grid.mismatch(p.grid):
                raise InputError(p.path, "grid", f"the grid of {parts[0].path} (same tile {tile})", differs)
        t2m = xr.concat([p.t2m for p in parts], LEAD).sortby(LEAD)
        if t2m.indexes[LEAD].has_duplicates:
            raise InputError(", ".join(str(p.path) for p in parts), "lead_time",
                             f"distinct lead times for tile {tile} (give init_time)", str(t2m[LEAD].values))
        out.append(TilePrediction(parts[0].path, tile, t2m, parts[0].attrs))
    return out


def _with_lead_time(da: xr.DataArray, path: Path) -> xr.DataArray:
    """`da` with a leading `lead_time` dim and a `valid_time` coordinate on it."""
    init = da.coords.get("init_time")
    if init is not None and init.ndim != 0:
        raise InputError(path, "init_time", "a scalar coordinate", str(init.dims))
    if LEAD in da.dims:
        if init is None:
            raise InputError(path, "init_time", "a scalar coordinate beside the lead_time dim", "none")
        valid = init.values + da[LEAD].values
    else:
        time = da.coords.get("time", da.coords.get("valid_time"))
        if time is None:
            raise InputError(path, "time", "a valid-time coordinate (time or valid_time)", "none")
        if time.ndim == 0:
            da = da.expand_dims("time" if "time" in da.coords else "valid_time")
            time = da[time.name]
        if time.dims != (time.name,) or time.name not in da.dims:
            raise InputError(path, time.name, "a scalar or a dim coordinate", str(time.dims))
        valid = time.values
        lead = valid - (init.values if init is not None else valid)
        da = da.swap_dims({time.name: LEAD}).drop_vars(time.name).assign_coords({LEAD: lead})
    if np.asarray(valid).dtype.kind != "M":
        raise InputError(path, "valid time", "datetime64 (CF time units)", str(np.asarray(valid).dtype))
    negative = da[LEAD].values < np.timedelta64(0, "ns")
    if negative.any():
        raise InputError(path, "init_time", "at or before the valid time (lead time >= 0)",
                         f"a lead time of {da[LEAD].values[negative][0] / np.timedelta64(1, 'h'):g} h")
    return da.assign_coords(valid_time=(LEAD, np.asarray(valid, dtype="datetime64[ns]")))
