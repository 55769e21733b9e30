"""Baselines verified beside the model: what forecasters use today, each on the same tile, times and places.

Each baseline's `predict(case, observed)` returns a deterministic T2M `(lead_time, *space)` in K on the
truth's verification space (`tm_weather.verify.truth.Observed`), NaN where it has no value:

- `Climatology`: a least-squares fit to the store's hourly series at the site nearest the tile over the train
  split's dates (a mean per UTC hour of day plus one annual harmonic), evaluated at the valid times;
- `Persistence`: the truth itself at the same hour the day before;
- `GFSInterpolated`: the GFS run whose lead time to the valid hour is nearest 12 h (operationally 12..17 h;
  runs every 6 h), bilinear onto the tile, optionally lapse-rate corrected to the tile's DEM from GFS's model
  orography (`HGT:surface`) at -6.5 K/km; the same without lapse rate for the National Blend of Models (NBM,
  "NBM 12 h", where the catalog has an `nbm` source: the first guess NWS forecasters start from);
- `LinearS2`: ordinary least squares of truth on [1, GFS + lapse, the 12 Sentinel-2 L2A bands], fitted on the
  train split's tiles at the same lead times;
- `PredictionFiles`: any other model's ensemble files in `tm-weather generate`'s layout, verified by their
  ensemble mean: the hook for the U-Net regression of issue 5 (`--baseline unet=UNET_tile*.nc`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import xarray as xr

from tm_weather.catalog import Catalog, Tile
from tm_weather.errors import InputError
from tm_weather.lapse import lapse_adjust
from tm_weather.series import TileGrid, regrid_to_tile
from tm_weather.sources.base import RunSource
from tm_weather.sources.sentinel2 import read_dem, read_s2l2a
from tm_weather.store import Store
from tm_weather.verify.prediction import LEAD, read_predictions
from tm_weather.verify.truth import GridTruth, Observed, StationTruth

#: The GFS lead time (hours) the GFS baselines aim for.
GFS_LEAD_H = 12


@dataclass(frozen=True)
class TileCase:
    """A tile under verification: `name`, its `grid`, the valid times `(lead_time,)` (UTC datetime64[ns]) and
    lead times `(lead_time,)` (timedelta64[ns]), and its catalog entry with paths resolved (`of`)."""

    name: str
    grid: TileGrid
    valid: np.ndarray
    leads: np.ndarray
    entry: Tile

    @classmethod
    def of(cls, catalog: Catalog, name: str, grid: TileGrid, valid: np.ndarray, leads: np.ndarray) -> TileCase:
        """The case of catalog tile `name`; `InputError` if the catalog has no such tile."""
        entry = _entry(catalog, name)
        paths = {k: catalog.path(getattr(entry, k)) for k in ("s2", "dem", "lulc") if getattr(entry, k) is not None}
        return cls(name, grid, valid, leads, entry.model_copy(update=paths))

    @classmethod
    def train(cls, catalog: Catalog, name: str, leads: np.ndarray) -> TileCase:
        """Catalog tile `name` at its acquisition hour (floored) plus `leads`, for fitting."""
        entry = _entry(catalog, name)
        s2 = _read_s2(catalog.path(entry.s2), entry)
        start = pd.Timestamp(s2.time).floor("h").to_datetime64()
        return cls.of(catalog, name, s2.grid, start + leads, leads)

    def s2(self) -> xr.DataArray:
        """Sentinel-2 L2A reflectance `(band, y, x)` (unitless, NaN where masked)."""
        return _read_s2(self.entry.s2, self.entry).reflectance


def _entry(catalog: Catalog, name: str) -> Tile:
    entry = next((t for t in catalog.tiles if t.name == name), None)
    if entry is None:
        raise InputError(catalog.root, f"tiles.{name}", "the tile in the catalog", str([t.name for t in catalog.tiles]))
    return entry


def _read_s2(path: Path, entry: Tile):
    """The S-2 tile at `path` read as the catalog entry says (acquisition time, BOA_ADD_OFFSET)."""
    time = np.datetime64(entry.time.replace(tzinfo=None), "ns") if entry.time else None
    return read_s2l2a(path, time=time, boa_add_offset=entry.boa_add_offset)


class Baseline(Protocol):
    name: str

    def predict(self, case: TileCase, observed: Observed) -> xr.DataArray:
        """T2M `(lead_time, *space)` in K on `observed`'s space."""
        ...


def _hours(valid: np.ndarray) -> np.ndarray:
    """Valid times rounded to the nearest whole hour, datetime64[ns]."""
    return pd.DatetimeIndex(valid).round("h").values


def _on_tile(values: np.ndarray, case: TileCase) -> xr.DataArray:
    """`(lead_time,)` or `(lead_time, y, x)` values -> a `(lead_time, y, x)` field on the tile's grid with CRS."""
    values = np.asarray(values, dtype=np.float32)
    values = np.broadcast_to(values[:, None, None] if values.ndim == 1 else values, (len(case.valid), *case.grid.shape))
    x, y = case.grid.centres()
    da = xr.DataArray(values, dims=(LEAD, "y", "x"), coords={"y": y, "x": x}, name="t2m", attrs={"units": "K"})
    return da.rio.write_crs(case.grid.crs).rio.write_transform(case.grid.transform)


#: What a climatology (24 hourly means plus an annual harmonic) needs to be fitted at all.
MIN_CLIMATE_DAYS = 60
MIN_CLIMATE_SPAN_DAYS = 300


class Climatology:
    """Hourly climatology at the tile from the store (see the module docstring). `source`: the store's
    `hourly/<source>` (site series) or `stations/<source>` (station reports) group, `{tile}` replaced by the
    tile's name; `start`, `end`: the fitting dates (the train split's)."""

    name = "climatology"

    def __init__(self, catalog: Catalog, source: str, start: dt.date | None, end: dt.date | None):
        self.catalog, self.source, self.start, self.end = catalog, source, start, end

    def series(self, case: TileCase) -> pd.Series:
        """The fitting series: t2m (K) by UTC time at the site or station nearest the tile's centre (<= 50 km)."""
        store, source = Store(self.catalog.path(self.catalog.store)), self.source.format(tile=case.name)
        t2m = _stored_series(store, source)
        place = t2m.dims[0]
        lon, lat = case.grid.corners_lonlat()
        places = zip(t2m["latitude"].values, t2m["longitude"].values)
        km = np.array([_distance_km(a, b, lat.mean(), lon.mean()) for a, b in places])
        if km.min() > 50:
            raise InputError(store.path, f"{source} {place}s", f"one within 50 km of tile {case.name}",
                             f"nearest {km.min():.0f} km")
        s = t2m.isel({place: int(km.argmin())}).to_series().dropna()
        return s[(s.index >= pd.Timestamp(self.start)) & (s.index < pd.Timestamp(self.end) + pd.Timedelta("1D"))]

    def predict(self, case: TileCase, observed: Observed) -> xr.DataArray:
        s = self.series(case)
        days = s.index.normalize().unique()
        if len(days) < MIN_CLIMATE_DAYS or (days.max() - days.min()).days < MIN_CLIMATE_SPAN_DAYS:
            # an annual harmonic fitted on a few days extrapolates wildly (tens of K) to other seasons
            raise InputError(
                f"store {self.source}", "train-split hours",
                f"at least {MIN_CLIMATE_DAYS} days spanning {MIN_CLIMATE_SPAN_DAYS} days in {self.start}..{self.end}",
                f"{len(days)} days" + (f" spanning {(days.max() - days.min()).days}" if len(days) else ""),
            )
        coef, *_ = np.linalg.lstsq(_climate_features(s.index.values), s.to_numpy(np.float64), rcond=None)
        return observed.sample(_on_tile(_climate_features(_hours(case.valid)) @ coef, case))


def _stored_series(store: Store, source: str) -> xr.DataArray:
    """t2m `(site or station, time)` with latitude/longitude of `hourly/<source>`, else `stations/<source>`."""
    for kind in ("hourly", "stations"):
        try:
            return store.read(kind, source)["t2m"].transpose(..., "time")
        except KeyError:
            continue
    raise InputError(store.path, f"hourly/{source} or stations/{source}", "series ingested (tm-weather ingest)", "none")


def _climate_features(times: np.ndarray) -> np.ndarray:
    """`(n, 26)`: one-hot UTC hour of day (24), cos and sin of the day of year's annual phase."""
    t = pd.DatetimeIndex(times)
    phase = 2 * np.pi * (t.day_of_year.to_numpy() - 1 + t.hour.to_numpy() / 24) / 365.25
    return np.column_stack([np.eye(24)[t.hour.to_numpy()], np.cos(phase), np.sin(phase)])


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a 6371 km sphere."""
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    return float(6371 * np.arccos(np.clip(np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl), -1, 1)))


class Persistence:
    """The truth the day before at the same hour (NaN where the truth has none)."""

    name = "persistence"

    def __init__(self, truth_for: Callable[[str], GridTruth | StationTruth]):
        self.truth_for = truth_for

    def predict(self, case: TileCase, observed: Observed) -> xr.DataArray:
        day_before = case.valid - np.timedelta64(1, "D")
        return self.truth_for(case.name).on_tile(case.name, case.grid, day_before, missing="nan").obs


class GFSRuns:
    """Forecast fields for the GFS (or NBM) baselines, each file read once: T2M of one run and lead, the run's
    orography (GFS only), and both on a tile's grid. `label` names the model in the baselines' names."""

    def __init__(self, source: RunSource, label: str = "GFS"):
        self.source, self.label = source, label
        self._fields: dict[tuple, xr.DataArray] = {}

    def run_for(self, valid: np.datetime64) -> tuple[np.datetime64, int] | None:
        """(init time, lead hours) of the run whose lead to `valid` (a whole hour) is nearest `GFS_LEAD_H`."""
        runs = [(valid - np.timedelta64(f, "h"), f) for f in self.source.fxx]
        runs = [(i, f) for i, f in runs if pd.Timestamp(i).hour in self.source.hours and pd.Timestamp(i).minute == 0]
        return min(runs, key=lambda r: (abs(r[1] - GFS_LEAD_H), -r[1]), default=None)

    @functools.lru_cache(maxsize=64)
    def t2m(self, init: np.datetime64, lead: int) -> xr.DataArray:
        """t2m `(y, x)` K of run `init` at `lead` hours."""
        return self.source.fields([(init, lead)]).isel(init_time=0, lead_time=0)

    @functools.lru_cache(maxsize=8)
    def orography(self, init: np.datetime64) -> xr.DataArray:
        """GFS model orography (m) `(y, x)` of one run (the source is then a `sources.base.OrographySource`)."""
        return self.source.orography(init)

    def field(self, case: TileCase, lapse: bool) -> xr.DataArray:
        """GFS (`lapse`: + -6.5 K/km x (DEM - GFS orography)) `(lead_time, y, x)` K on the tile's full grid."""
        key = (case.name, case.valid.tobytes(), lapse)
        if key not in self._fields:
            dem = _dem(case).values if lapse else None
            fields = []
            for valid in _hours(case.valid):
                run = self.run_for(valid)
                if run is None:
                    fields.append(np.full(case.grid.shape, np.nan, dtype=np.float32))
                    continue
                f = self._regrid(self.t2m(*run), case)
                if lapse:
                    f = lapse_adjust(f, self._regrid(self.orography(run[0]), case), dem)
                fields.append(f)
            self._fields[key] = _on_tile(np.stack(fields), case)
        return self._fields[key]

    @staticmethod
    def _regrid(field: xr.DataArray, case: TileCase) -> np.ndarray:
        return regrid_to_tile(field, case.grid.crs, case.grid.transform, case.grid.shape).values


class GFSInterpolated:
    """GFS (or NBM) nearest 12 h lead, bilinear onto the tile; `lapse` (GFS): corrected by -6.5 K/km x (DEM - GFS
    orography)."""

    def __init__(self, runs: GFSRuns, lapse: bool):
        self.runs, self.lapse = runs, lapse
        self.name = f"{runs.label} 12 h + lapse rate" if lapse else f"{runs.label} 12 h"

    def predict(self, case: TileCase, observed: Observed) -> xr.DataArray:
        return observed.sample(self.runs.field(case, self.lapse))


def _dem(case: TileCase) -> xr.DataArray:
    """The tile's DEM (m) `(y, x)`; `InputError` if the catalog gives none."""
    if case.entry.dem is None:
        raise InputError(f"tile {case.name}", "dem", "a DEM in the catalog for the lapse-rate correction", "none")
    return read_dem(case.entry.dem, case.grid)


class LinearS2:
    """GFS + lapse rate + c0 + sum_b c_b (band_b - the tile's mean of band_b), the c fitted by least squares on
    the GFS + lapse error over the `train` tiles, each at its acquisition hour plus the verified lead times. Why
    within-tile band anomalies: with a handful of training tiles, tile-mean spectra identify each training
    scene and would memorise its weather instead of the land-cover effects S-2 shows."""

    name = "linear regression on S-2"

    def __init__(self, gfs: GFSRuns, truth_for: Callable[[str], GridTruth | StationTruth],
                 train: Sequence[TileCase]):
        self.gfs, self.truth_for, self.train = gfs, truth_for, list(train)
        self._coef: np.ndarray | None = None

    def parts(self, case: TileCase, observed: Observed) -> tuple[np.ndarray, np.ndarray]:
        """(GFS + lapse `(lead_time, *space)` K, features `(lead_time, *space, 13)`) on `observed`'s space."""
        s2 = case.s2()
        bands = observed.sample(s2 - s2.mean(["y", "x"])).transpose("band", ...).values
        gfs = observed.sample(self.gfs.field(case, lapse=True)).values
        features = np.concatenate([np.ones((1, *bands.shape[1:])), bands])
        return gfs, np.broadcast_to(np.moveaxis(features, 0, -1), (*gfs.shape, len(features)))

    def coef(self) -> np.ndarray:
        """(13,) coefficients: K, and K per unit reflectance."""
        if self._coef is None:
            x, y = [], []
            for case in self.train:
                observed = self.truth_for(case.name).on_tile(case.name, case.grid, case.valid, missing="nan")
                gfs, features = self.parts(case, observed)
                x.append(features.reshape(-1, features.shape[-1]))
                y.append((observed.obs.values - gfs).ravel())
            x, y = np.concatenate(x), np.concatenate(y)
            ok = np.isfinite(y) & np.isfinite(x).all(1)
            if ok.sum() <= x.shape[1]:
                raise InputError("train split", "training samples", f"more than {x.shape[1]} with truth, GFS and "
                                 "S-2", str(ok.sum()))
            self._coef, *_ = np.linalg.lstsq(x[ok], y[ok], rcond=None)
        return self._coef

    def predict(self, case: TileCase, observed: Observed) -> xr.DataArray:
        gfs, features = self.parts(case, observed)
        return observed.obs.copy(data=(gfs + features @ self.coef()).astype(np.float32))


class PredictionFiles:
    """Another model's ensemble files (one per tile, `tm-weather generate`'s layout), by their ensemble mean."""

    def __init__(self, name: str, paths: Sequence[Path]):
        self.name = name
        self.by_tile = {p.tile: p for p in read_predictions(list(paths))}

    def predict(self, case: TileCase, observed: Observed) -> xr.DataArray:
        pred = self.by_tile.get(case.name)
        if pred is None:
            raise InputError(f"baseline {self.name}", f"tile {case.name}", "a prediction file for the tile", "none")
        if not np.array_equal(pred.valid_time, case.valid):
            raise InputError(pred.path, "valid_time", f"the verified times {case.valid}", str(pred.valid_time))
        return observed.sample(pred.t2m.mean("member"))
