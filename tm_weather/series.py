"""T2M at sites and on tiles: point extraction, regridding onto a Sentinel-2 tile's grid, hourly -> daily.

All functions are pure (no I/O). Fields follow `tm_weather.lexicon.check_t2m`: dims `(..., y, x)` with 1-D,
strictly monotonic `x`/`y` and a CRS (rioxarray); lat/lon grids are EPSG:4326 with x = longitude (either
-180..180 or 0..360) and y = latitude (ascending or descending); projected grids are in the projection's metres.

Interpolation is bilinear in the field's own x/y (or nearest), so both `extract_points` and `regrid_to_tile`
take the same path: the target points (site lon/lat, or a tile's pixel centres) are transformed into the
field's CRS with pyproj, longitudes are brought into the grid's range (with the seam column appended on global
grids), and `xarray.DataArray.interp` (scipy `interpn`) samples the field. Why not GDAL's warper
(`rio.reproject`) for tiles: it needs -180..180 longitudes, does not wrap the seam of 0..360 grids, and its
nodata handling differs from point extraction; one path keeps the two consistent.

NaN semantics of bilinear sampling: a NaN at any of the four grid points around a point makes that point NaN
(for "nearest", only the nearest grid point counts). No value is filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer

from tm_weather.errors import InputError
from tm_weather.lexicon import T2M

Method = Literal["bilinear", "nearest"]
_XARRAY_METHOD = {"bilinear": "linear", "nearest": "nearest"}
_LONLAT = CRS.from_epsg(4326)


@dataclass(frozen=True)
class TileGrid:
    """A north-up raster grid: `crs`, the affine `transform` (pixel corner -> CRS coordinates, metres for UTM)
    and `shape` = (ny, nx). Built from a Sentinel-2 tile with `TileGrid.of(da)`; `crs` accepts anything
    `pyproj.CRS.from_user_input` does and is stored as a `pyproj.CRS`."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        if not isinstance(self.transform, Affine):
            raise InputError("TileGrid", "transform", "an affine.Affine", type(self.transform).__name__)
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.a == 0 or self.transform.e == 0:
            raise InputError("TileGrid", "transform", "north-up, non-zero pixel size", str(self.transform))
        if len(self.shape) != 2 or min(self.shape) < 1:
            raise InputError("TileGrid", "shape", "(ny, nx), both >= 1", str(self.shape))
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))

    @classmethod
    def of(cls, da: xr.DataArray) -> TileGrid:
        """The grid of a rioxarray DataArray `(..., y, x)` that has a CRS."""
        return cls(da.rio.crs, da.rio.transform(), da.rio.shape)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates in the grid's CRS: x `(nx,)` and y `(ny,)`."""
        ny, nx = self.shape
        x = self.transform.c + (np.arange(nx) + 0.5) * self.transform.a
        y = self.transform.f + (np.arange(ny) + 0.5) * self.transform.e
        return x, y

    def corners_lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes (degrees) of the four outer pixel corners: `(4,)` each."""
        ny, nx = self.shape
        col, row = np.array([0, nx, 0, nx]), np.array([0, 0, ny, ny])
        t = self.transform
        cx, cy = t.c + col * t.a + row * t.b, t.f + col * t.d + row * t.e
        lon, lat = Transformer.from_crs(self.crs, _LONLAT, always_xy=True).transform(cx, cy)
        return np.asarray(lon), np.asarray(lat)

    def centre_lonlat(self) -> tuple[float, float]:
        """(lon, lat) degrees of the grid's centre."""
        ny, nx = self.shape
        x, y = self.transform * (nx / 2, ny / 2)
        lon, lat = Transformer.from_crs(self.crs, _LONLAT, always_xy=True).transform(x, y)
        return float(lon), float(lat)

    def mismatch(self, other: TileGrid) -> str:
        """'' if `other` is the same grid (transforms equal to 1/1000 of a pixel), else what differs."""
        if not self.crs.equals(other.crs):
            return f"CRS {other.crs.to_string()} instead of {self.crs.to_string()}"
        if other.shape != self.shape:
            return f"shape {other.shape} instead of {self.shape}"
        if not self.transform.almost_equals(other.transform, precision=1e-3 * abs(self.transform.a)):
            return f"transform {tuple(other.transform)[:6]} instead of {tuple(self.transform)[:6]}"
        return ""


def extract_points(
    field: xr.DataArray,
    lat: Sequence[float],
    lon: Sequence[float],
    names: Sequence[str],
    method: Method = "bilinear",
) -> xr.DataArray:
    """Sample `field` `(..., y, x)` at sites -> `(..., site)`, vectorised over the leading dims.

    `lat`, `lon` in degrees (lon in -180..180 or 0..360), `names` unique; the output has coordinates `site`
    (the names), `latitude` and `longitude`, keeps the field's name, attrs, dtype and non-spatial coordinates.
    A NaN at any contributing grid point gives NaN (see the module docstring). A site outside the grid raises
    `InputError` naming the site.
    """
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if not (lat.ndim == lon.ndim == 1 and lat.size == lon.size == len(names)):
        found = f"{lat.size}, {lon.size}, {len(names)}"
        raise InputError("extract_points", "sites", "lat, lon and names of equal length", found)
    if len(set(names)) != len(names):
        raise InputError("extract_points", "site names", "unique names", str(list(names)))
    if np.any(np.abs(lat) > 90) or not np.all(np.isfinite(lon)):
        raise InputError("extract_points", "site coordinates", "lat in -90..90, finite lon", f"lat {lat}, lon {lon}")
    field, gx, gy = _onto_field_grid(field, _LONLAT, lon, lat, "extract_points")
    outside = _outside(field, gx, gy)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(
            "extract_points", f"site {names[i]!r}", f"inside the field's grid ({_extent(field)})",
            f"lat {lat[i]}, lon {lon[i]}",
        )
    out = _sample(field, gx, gy, "site", method)
    return out.assign_coords(site=list(names), latitude=("site", lat), longitude=("site", lon))


def covers(field: xr.DataArray, lat: Sequence[float], lon: Sequence[float]) -> np.ndarray:
    """Which points (degrees) lie inside `field`'s grid `(..., y, x)`: bool `(n,)`, the test `extract_points`
    applies, for callers that skip points a regional source does not cover."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    field, gx, gy = _onto_field_grid(field, _LONLAT, lon, lat, "covers")
    return ~_outside(field, gx, gy)


def regrid_to_tile(
    field: xr.DataArray,
    tile_crs: CRS | str,
    tile_transform: Affine,
    shape: tuple[int, int],
    method: Method = "bilinear",
) -> xr.DataArray:
    """Resample `field` `(..., y, x)` onto a tile's grid (e.g. a Sentinel-2 tile, UTM at 10 m) -> `(..., y, x)`.

    Each tile pixel centre is transformed into the field's CRS and sampled there (bilinear or nearest), which is
    exact for fields much coarser than the tile. The output carries the tile's x/y pixel centres, CRS and
    transform (rioxarray), and the field's name, attrs, dtype and non-spatial coordinates. NaN stays NaN. A tile
    not wholly inside the field's grid raises `InputError`.
    """
    grid = TileGrid(tile_crs, tile_transform, shape)
    x, y = grid.centres()
    px, py = np.meshgrid(x, y)  # (ny, nx)
    field, gx, gy = _onto_field_grid(field, grid.crs, px.ravel(), py.ravel(), "regrid_to_tile")
    if _outside(field, gx, gy).any():
        raise InputError(
            "regrid_to_tile", "tile", f"inside the field's grid ({_extent(field)})",
            f"tile spans x {gx.min():.4f}..{gx.max():.4f}, y {gy.min():.4f}..{gy.max():.4f} in the field's CRS",
        )
    flat = _sample(field, gx, gy, "pixel", method)
    lead = flat.dims[:-1]
    out = xr.DataArray(
        flat.values.reshape(flat.shape[:-1] + grid.shape),
        dims=lead + ("y", "x"),
        coords={**{k: v for k, v in flat.coords.items() if "pixel" not in v.dims}, "y": y, "x": x},
        name=field.name,
        attrs=field.attrs,
    )
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


@dataclass(frozen=True)
class DailyRule:
    """When a UTC day's mean/min/max count: at least `min_hours` (1..24) of its 24 hourly values present and
    finite; otherwise the day's statistics are NaN. The default (24) counts only complete days."""

    min_hours: int = 24

    def __post_init__(self) -> None:
        if not 1 <= self.min_hours <= 24:
            raise InputError("DailyRule", "min_hours", "an integer in 1..24", str(self.min_hours))

    def describe(self) -> str:
        return (
            f"a UTC day counts only with at least {self.min_hours} of its 24 hourly values present and finite; "
            "other days are NaN; missing hours are never filled"
        )


def daily(hourly: xr.DataArray, rule: DailyRule = DailyRule()) -> xr.Dataset:
    """Hourly t2m `(..., time)` in K -> per UTC day `(..., date)`: `t2m_mean`, `t2m_min`, `t2m_max` (float32 K)
    and `n_hours` (int, the hours present and finite that day).

    `time` must be unique, increasing, on whole hours (UTC `datetime64[ns]`). Missing hours are gaps, not
    filled: they lower `n_hours`, and every date from the first to the last, even one with no hours at all,
    appears. Days failing `rule` have NaN statistics; `rule` is stated in the output's `completeness` attr.
    """
    _check_hourly(hourly)
    values = hourly.astype(np.float64)
    values = values.where(np.isfinite(values))
    days = values.resample(time="1D")
    n_hours = days.count().fillna(0)  # resample leaves a day with no values at all as NaN: it has 0 hours
    counts = n_hours >= rule.min_hours
    stats = {
        f"{T2M}_{stat}": getattr(days, stat)().where(counts).astype(np.float32).assign_attrs(units="K")
        for stat in ("mean", "min", "max")
    }
    out = xr.Dataset({**stats, "n_hours": n_hours.astype(np.int32)})
    out.attrs.update(completeness=rule.describe(), time_zone="UTC")
    return out.rename(time="date")


def _check_hourly(hourly: xr.DataArray) -> None:
    if "time" not in hourly.dims or hourly["time"].dtype != np.dtype("datetime64[ns]"):
        raise InputError("daily", "time", "a 'time' dimension of datetime64[ns] (UTC)", str(hourly.dims))
    t = hourly["time"].values
    if np.any(np.diff(t) <= np.timedelta64(0, "ns")):
        raise InputError("daily", "time", "unique, increasing times", "repeated or unsorted times")
    off_hour = t.astype("datetime64[h]") != t
    if off_hour.any():
        raise InputError("daily", "time", "whole hours (hourly values)", str(t[off_hour][0]))


def _onto_field_grid(
    field: xr.DataArray, src_crs: CRS, px: np.ndarray, py: np.ndarray, where: str
) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """Transform points (px, py) in `src_crs` into `field`'s x/y; on lat/lon grids bring the longitudes into
    [x_min, x_min + 360). Returns (field, gx, gy)."""
    if field.rio.crs is None:
        raise InputError(where, "field CRS", "a CRS on the grid (rioxarray)", "none")
    field_crs = CRS.from_user_input(field.rio.crs)
    gx, gy = Transformer.from_crs(src_crs, field_crs, always_xy=True).transform(px, py)
    gx, gy = np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64)
    if field_crs.is_geographic:
        x0 = float(field["x"].min())
        gx = x0 + np.mod(gx - x0, 360.0)
    return field, gx, gy


def _is_global(field: xr.DataArray) -> bool:
    """A lat/lon grid whose columns go all the way round (the seam between last and first column is a cell)."""
    x = field["x"].values
    if not CRS.from_user_input(field.rio.crs).is_geographic or x.size < 2:
        return False
    return bool(np.isclose(abs(x[-1] - x[0]) * x.size / (x.size - 1), 360.0))


def _outside(field: xr.DataArray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    x, y = field["x"].values, field["y"].values
    x_max = x.min() + 360.0 if _is_global(field) else x.max()
    return (gx < x.min()) | (gx > x_max) | (gy < y.min()) | (gy > y.max()) | ~np.isfinite(gx + gy)


def _extent(field: xr.DataArray) -> str:
    x, y = field["x"].values, field["y"].values
    return f"x {x.min():.4f}..{x.max():.4f}, y {y.min():.4f}..{y.max():.4f}"


def _sample(field: xr.DataArray, gx: np.ndarray, gy: np.ndarray, dim: str, method: Method) -> xr.DataArray:
    """`field` `(..., y, x)` at the points (gx, gy) in its own coordinates -> `(..., dim)`, in field's dtype.

    Written by hand rather than `DataArray.interp`: interp (scipy `interpn`) needs ascending coordinates and
    an explicit seam column, i.e. copies of the whole field, which cost more than the sampling itself on a
    global 0.25 deg cube; here only the (up to) four neighbours of each point are gathered."""
    if method not in _XARRAY_METHOD:
        raise InputError("interpolation", "method", "'bilinear' or 'nearest'", repr(method))
    periodic = _is_global(field)
    on_grid = [c for c in field.coords if c not in ("x", "y") and set(field[c].dims) & {"x", "y"}]
    field = field.drop_vars(on_grid + ["spatial_ref"], errors="ignore")  # e.g. 2-D latitude/longitude
    ix0, ix1, wx = _neighbours(field["x"].values, gx, periodic=periodic)
    iy0, iy1, wy = _neighbours(field["y"].values, gy, periodic=False)
    if method == "nearest":
        ix0, iy0 = np.where(wx < 0.5, ix0, ix1), np.where(wy < 0.5, iy0, iy1)
        corners = [(iy0, ix0, np.ones_like(wx))]
    else:
        corners = [(iy0, ix0, (1 - wy) * (1 - wx)), (iy0, ix1, (1 - wy) * wx), (iy1, ix0, wy * (1 - wx)), (iy1, ix1, wy * wx)]
    out = None
    for iy, ix, w in corners:
        values = field.isel(y=xr.DataArray(iy, dims=dim), x=xr.DataArray(ix, dims=dim)).drop_vars(["x", "y"])
        term = values * xr.DataArray(w, dims=dim)  # NaN in a neighbour stays NaN, whatever its weight
        out = term if out is None else out + term
    return out.astype(field.dtype).transpose(..., dim).assign_attrs(field.attrs).rename(field.name)


def _neighbours(coord: np.ndarray, p: np.ndarray, periodic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points `p` inside a strictly monotonic axis `coord` `(n,)`: indices i0, i1 of the bracketing cells
    and the weight of i1 (0 at i0, 1 at i1). `periodic`: the axis wraps (i1 of the last cell is 0)."""
    n = coord.size
    ascending = coord[-1] > coord[0]
    c = coord if ascending else coord[::-1]
    if periodic:
        c = np.append(c, c[0] + 360.0)
    i = np.clip(np.searchsorted(c, p, side="right") - 1, 0, c.size - 2)
    w = (p - c[i]) / (c[i + 1] - c[i])
    j = i + 1
    if periodic:
        j = j % n
    if not ascending:
        i, j = n - 1 - i, n - 1 - j
    return i, j, w
