"""Truth on a tile, through the ingestion layer: what a prediction is verified against.

A truth adapter turns a tile's grid and valid times into an `Observed`: the observations `obs`
`(lead_time, *space)` in K, and `sample`, which maps any field on the tile's grid `(..., y, x)` onto the same
`space` (so the prediction and every baseline are compared at exactly the observed places):

- gridded truths (any catalog source of analyses, `dims` `(time, y, x)`: GFS analysis, URMA/RTMA, local GRIB,
  ERA5, the benchmark world's 40 m truth) are bilinearly regridded onto the tile's pixels and averaged over
  `block` x `block` pixel blocks, as fields on the tile are (a coarse analysis carries no information at 10 m, a
  fine one has structure inside a block; space = `(y, x)` of the blocks); `store:NAME`, the fields `tm-weather
  ingest` already regridded onto the tile, are block-averaged like the prediction;
- station truths (`dims` `(time, station)`: ISD) keep the stations inside the tile, and fields are sampled at
  them with the nearest or bilinear pixel (space = `(station,)`).

Valid times are matched to the truth's own times, the nearest within `TIME_TOLERANCE`; a prediction time with
none is an `InputError` (mismatched times), as is a tile the truth's grid does not cover (no spatial overlap).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import Transformer

from tm_weather.catalog import Catalog
from tm_weather.errors import InputError
from tm_weather.metrics import SCORING_BLOCK, block_means
from tm_weather.series import TileGrid, covers, extract_points, regrid_to_tile
from tm_weather.sources import open_source
from tm_weather.store import Store
from tm_weather.verify.prediction import LEAD

TIME_TOLERANCE = np.timedelta64(30, "m")
Missing = Literal["raise", "nan"]
#: A truth's `times(start, end)`: the valid times it offers in [start, end].
Offered = Callable[[np.datetime64, np.datetime64], np.ndarray]


@dataclass(frozen=True)
class Observed:
    """Truth on one tile: `obs` float32 K `(lead_time, *space)`; `sample(field (..., y, x)) -> (..., *space)`."""

    obs: xr.DataArray
    sample: Callable[[xr.DataArray], xr.DataArray]


def match_times(wanted: np.ndarray, offered: np.ndarray, where: str, missing: Missing = "raise") -> np.ndarray:
    """For each wanted valid time `(n,)`, the nearest offered time within `TIME_TOLERANCE` -> `(n,)`
    datetime64[ns]; NaT where none and `missing="nan"`, else `InputError` naming the first unmatched time."""
    wanted, offered = np.asarray(wanted, "datetime64[ns]"), np.sort(np.asarray(offered, "datetime64[ns]"))
    out = np.full(wanted.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    if offered.size:
        i = np.clip(np.searchsorted(offered, wanted), 1, max(offered.size - 1, 1))
        lo, hi = offered[i - 1], offered[np.minimum(i, offered.size - 1)]
        best = np.where(np.abs(wanted - lo) <= np.abs(hi - wanted), lo, hi)
        ok = np.abs(best - wanted) <= TIME_TOLERANCE
        out[ok] = best[ok]
    if missing == "raise" and np.isnat(out).any():
        bad = wanted[np.isnat(out)][0]
        span = f"{offered.min()}..{offered.max()}" if offered.size else "no times"
        raise InputError(where, "valid time", f"truth within {TIME_TOLERANCE} of {bad} (mismatched times)", span)
    return out


def block_grid(grid: TileGrid, block: int) -> TileGrid:
    """The tile grid coarsened to `block` x `block` pixel blocks (trailing pixels that fill no block dropped)."""
    return TileGrid(grid.crs, grid.transform @ Affine.scale(block), (grid.shape[0] // block, grid.shape[1] // block))


def block_mean(field: xr.DataArray, block: int) -> xr.DataArray:
    """`field` `(..., y, x)` -> its `metrics.block_means` `(..., y, x)` block-indexed, other coordinates kept."""
    out = xr.apply_ufunc(block_means, field, kwargs={"block": block}, input_core_dims=[["y", "x"]],
                         output_core_dims=[["y", "x"]], exclude_dims={"y", "x"})
    return out.drop_vars(["x", "y", "spatial_ref"], errors="ignore")


class GridTruth:
    """A gridded truth: `fields(times)` -> t2m `(time, y, x)` with a CRS, at `offered` times (see the module)."""

    def __init__(self, name: str, fields: Callable[[np.ndarray], xr.DataArray], offered: Offered, block: int = SCORING_BLOCK):
        self.name, self.fields, self.offered, self.block = name, fields, offered, block

    def on_tile(self, tile: str, grid: TileGrid, valid: np.ndarray, missing: Missing = "raise") -> Observed:
        times = match_times(valid, _offered(self.offered, valid), f"truth {self.name} for tile {tile}", missing)
        have = ~np.isnat(times)
        coarse = block_grid(grid, self.block)
        obs = np.full((len(valid), *coarse.shape), np.nan, dtype=np.float32)
        if have.any():
            field = self.fields(np.unique(times[have]))
            if TileGrid.of(field).mismatch(grid):
                _check_overlap(field, grid, self.name, tile)
                field = regrid_to_tile(field, grid.crs, grid.transform, grid.shape)
            field = block_mean(field, self.block)  # on the tile's pixels: averaged like the prediction
            obs[have] = field.sel(time=times[have]).values
        da = xr.DataArray(obs, dims=(LEAD, "y", "x"), name="t2m", attrs={"units": "K", "truth": self.name})
        return Observed(da, lambda f: block_mean(f, self.block))


class StationTruth:
    """A station truth: `reports(times)` -> t2m `(time, station)` with latitude/longitude; fields are sampled at
    the stations inside the tile with `method`."""

    def __init__(self, name: str, reports: Callable[[np.ndarray], xr.DataArray], offered: Offered,
                 method: Literal["nearest", "bilinear"] = "bilinear"):
        self.name, self.reports, self.offered, self.method = name, reports, offered, method

    def on_tile(self, tile: str, grid: TileGrid, valid: np.ndarray, missing: Missing = "raise") -> Observed:
        times = match_times(valid, _offered(self.offered, valid), f"truth {self.name} for tile {tile}", missing)
        have = ~np.isnat(times)
        reports = self.reports(np.unique(times[have]))
        x, y = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(
            reports["longitude"].values, reports["latitude"].values
        )
        col, row = ~grid.transform @ (np.asarray(x), np.asarray(y))
        inside = (col >= 0) & (col < grid.shape[1]) & (row >= 0) & (row < grid.shape[0])
        if not inside.any():
            raise InputError(f"truth {self.name}", f"stations on tile {tile}", "at least one station inside the "
                             "tile (no spatial overlap)", f"{reports.sizes['station']} stations, all outside")
        reports = reports.isel(station=inside)
        obs = np.full((len(valid), reports.sizes["station"]), np.nan, dtype=np.float32)
        if have.any():
            obs[have] = reports.sel(time=times[have]).values
        da = xr.DataArray(obs, dims=(LEAD, "station"), coords={"station": reports["station"].values}, name="t2m",
                          attrs={"units": "K", "truth": self.name})
        lat, lon, names = reports["latitude"].values, reports["longitude"].values, list(reports["station"].values)

        def sample(field: xr.DataArray) -> xr.DataArray:
            return extract_points(field, lat, lon, names, self.method).rename(site="station").drop_vars(
                ["latitude", "longitude", "spatial_ref"], errors="ignore"
            )

        return Observed(da, sample)


def _offered(offered: Offered, valid: np.ndarray) -> np.ndarray:
    """The truth's times within `TIME_TOLERANCE` of the valid times' span."""
    valid = np.asarray(valid, "datetime64[ns]")
    return offered(valid.min() - TIME_TOLERANCE, valid.max() + TIME_TOLERANCE)


def _check_overlap(field: xr.DataArray, grid: TileGrid, name: str, tile: str) -> None:
    """`InputError` unless `field`'s grid covers the whole tile."""
    lon, lat = grid.corners_lonlat()
    inside = covers(field, lat, lon)
    if not inside.all():
        what = "no spatial overlap" if not inside.any() else "the tile partly outside"
        raise InputError(f"truth {name}", f"grid around tile {tile}", "a grid covering the whole tile",
                         f"{what} (tile corners lon {lon.min():.3f}..{lon.max():.3f}, "
                         f"lat {lat.min():.3f}..{lat.max():.3f})")


def open_truth(spec: str, catalog: Catalog, tile: str, method: Literal["nearest", "bilinear"] = "bilinear",
               block: int = SCORING_BLOCK) -> GridTruth | StationTruth:
    """The truth named by `spec` for `tile`: a catalog source name (`{tile}` is replaced by the tile's name, as
    in the benchmark world's `truth_{tile}`), or `store:NAME` for the fields of source NAME in the catalog's
    store. `InputError` for an unknown name or a source that is no truth (a forecast)."""
    if spec.startswith("store:"):
        source = spec.removeprefix("store:")
        store = Store(catalog.path(catalog.store))

        @functools.cache
        def stored() -> xr.DataArray:
            try:
                ds = store.read("fields", source, tile)
            except KeyError as e:
                raise InputError(store.path, f"fields/{source}/{tile}", "fields ingested for the tile", "none") from e
            t2m = ds.set_coords([v for v in ("spatial_ref",) if v in ds.data_vars])["t2m"]
            if t2m.rio.crs is None:
                raise InputError(store.path, f"fields/{source}/{tile}", "a spatial_ref (CRS) on the fields", "none")
            return t2m

        def offered(lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
            t = stored()["time"].values
            return t[(t >= lo) & (t <= hi)]

        return GridTruth(spec, lambda t: stored().sel(time=t), offered, block)
    name = spec.format(tile=tile)
    if name not in catalog.sources:
        raise InputError("--truth", name, f"a source of the catalog in {catalog.root} or store:NAME",
                         str(sorted(catalog.sources)))
    source = open_source(name, catalog.sources[name], catalog)
    if "lead_time" in source.dims:
        raise InputError("--truth", name, "an analysis or station source (a truth)", "a forecast")
    if "station" in source.dims:
        return StationTruth(name, source, source.times, method)
    return GridTruth(name, source, source.times, block)
