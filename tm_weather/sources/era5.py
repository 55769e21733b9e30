"""ERA5 2 m temperature from local files, the ARCO-ERA5 zarr store and the Copernicus Climate Data Store.

All three return the contract of `tm_weather.lexicon.check_t2m`: t2m `(time, y, x)`, float32 kelvin, on ERA5's
regular latitude/longitude grid, CRS EPSG:4326, y = latitude as the source stores it (north to south for ERA5), and
x = longitude wrapped to [-180, 180) and increasing whenever that keeps the axis evenly spaced (the UK's
10 W..2 E out of ARCO's 0..359.75); an area across the antimeridian (e.g. 170 E..170 W) keeps 0..360 degrees
(170..190) so that it stays one evenly spaced axis.

- `ERA5Files` (`kind: era5_file`): GRIB files through `tm_weather.grib` (the project's one GRIB reader) and netCDF
  files through xarray; files are merged along time (see `merge_times`).
- `ERA5Arco` (`kind: era5_arco`): Google's analysis-ready ERA5 zarr (anonymous access), opened lazily and
  subset to the catalog's `area`; only the chunks of the requested times are read.
- `ERA5CDS` (`kind: era5_cds`): one `cdsapi` request per calendar month, downloaded once into the catalog's
  cache folder, then read as `ERA5Files` reads a file.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import cdsapi
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor used to attach the CRS)
import xarray as xr

from tm_weather import grib
from tm_weather.catalog import Catalog, ERA5ArcoConfig, ERA5CDSConfig, ERA5FileConfig
from tm_weather.errors import InputError
from tm_weather.lexicon import SOURCE_KEYS, T2M, T2M_ATTRS, check_t2m, to_kelvin
from tm_weather.sources.base import ANALYSIS
from tm_weather.files import file_format

log = logging.getLogger(__name__)

#: Names ERA5 netCDF files give 2 m temperature: CDS (`t2m`), ecCodes shortName (`2t`), ARCO / CDS request name.
NETCDF_NAMES = ("t2m", "2t", "2m_temperature")
#: Dimension names of ERA5 netCDF files (CDS before and since 2024, CF-style short names) -> canonical name.
_NETCDF_DIMS = {"time": ("time", "valid_time"), "latitude": ("latitude", "lat"), "longitude": ("longitude", "lon")}
#: Two files holding the same time must agree to this many kelvin (GRIB/netCDF packing of ERA5 t2m is ~0.002 K).
DUPLICATE_ATOL_K = 0.01
#: ERA5 (ERA5T) reaches the CDS and ARCO about five days behind real time.
ERA5_LATENCY = np.timedelta64(5, "D")


# ----------------------------------------------------------------------------------------------------------
# Files


def read_era5_file(path: str | PathLike) -> xr.DataArray:
    """One ERA5 GRIB or netCDF file (told apart by their first bytes) -> contract t2m `(time, y, x)`."""
    path = Path(path)
    if file_format(path, ("GRIB", "netCDF")) == "GRIB":
        return grib.read_t2m(path)
    return _read_netcdf(path)


def _read_netcdf(path: Path) -> xr.DataArray:
    """An ERA5 netCDF file, CDS layout old (`time`) or new (`valid_time`), 2 m temperature in any `to_kelvin` unit.

    Size-1 extra dimensions (`number`, `expver`) are dropped; fill values become NaN (xarray's CF decoding).
    """
    try:
        with xr.open_dataset(path) as ds:
            name = next((n for n in NETCDF_NAMES if n in ds.data_vars), None)
            if name is None:
                raise InputError(path, "variable", f"one of {', '.join(NETCDF_NAMES)}", str(sorted(ds.data_vars)))
            da = ds[name].load()
    except (OSError, ValueError) as e:
        raise InputError(path, "file", "a readable netCDF file", str(e)) from e
    dims = {}
    for canonical, names in _NETCDF_DIMS.items():
        found = [n for n in names if n in da.dims]
        if not found:
            raise InputError(path, f"{name} dimensions", f"one of {', '.join(names)}", str(da.dims))
        dims[found[0]] = canonical
    extra = [d for d in da.dims if d not in dims]
    if any(da.sizes[d] != 1 for d in extra):
        raise InputError(path, f"{name} dimensions", "time, latitude, longitude (+ size-1 ones)", str(dict(da.sizes)))
    da = da.isel({d: 0 for d in extra}, drop=True).rename(dims)
    values = to_kelvin(da.values, da.attrs.get("units"), path)
    return to_grid(da.copy(data=values), path)


def to_grid(da: xr.DataArray, where: str | PathLike) -> xr.DataArray:
    """t2m `(time, latitude, longitude)` in K (any float dtype) -> the contract `(time, y, x)` (see the module)."""
    order, x = longitude_axis(da["longitude"].values)
    da = da.isel(longitude=order).assign_coords(longitude=x)
    da = da.rename(latitude="y", longitude="x").transpose("time", "y", "x").astype(np.float32)
    da = da.assign_coords(time=da["time"].values.astype("datetime64[ns]"))
    da.name = T2M
    da.attrs = dict(T2M_ATTRS)
    return check_t2m(da.rio.write_crs("EPSG:4326"), where)


def longitude_axis(lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, x) for longitudes `lon` (degrees): `lon[order]` wrapped to [-180, 180) increase evenly, or, if no
    order does that (an axis across the antimeridian), `order` is the identity and `x` the longitudes as given."""
    wrapped = (lon + 180.0) % 360.0 - 180.0
    order = np.argsort(wrapped, kind="stable")
    steps = np.diff(wrapped[order])
    if steps.size == 0 or (steps[0] > 0 and np.allclose(steps, steps[0])):
        return order, wrapped[order]
    return np.arange(lon.size), lon


def merge_times(fields: Sequence[xr.DataArray], paths: Sequence[str | PathLike]) -> xr.DataArray:
    """Contract arrays of several files (`fields[i]` read from `paths[i]`) -> one, sorted by time.

    Every file must share one grid. A time held by several files is kept once if their fields agree (to
    `DUPLICATE_ATOL_K`, NaN equal to NaN), else `InputError` naming the files. Gaps (steps longer than the usual
    step) are logged as warnings.
    """
    where = ", ".join(map(str, paths))
    try:
        da = xr.concat(fields, dim="time", join="exact", coords="minimal", compat="override")
    except ValueError as e:
        raise InputError(where, "grid", "the same latitude/longitude grid in every file", str(e)) from e
    files = np.concatenate([[str(p)] * f.sizes["time"] for f, p in zip(fields, paths)])
    order = np.argsort(da["time"].values, kind="stable")
    da, files = da.isel(time=order), files[order]
    repeat = pd.Index(da["time"].values).duplicated(keep="first")
    if repeat.any():
        values = da.values
        first = np.flatnonzero(~repeat)[np.cumsum(~repeat) - 1]  # for each time step, its first occurrence
        for i in np.flatnonzero(repeat):
            a, b = values[i], values[first[i]]
            if not np.allclose(a, b, rtol=0.0, atol=DUPLICATE_ATOL_K, equal_nan=True):
                diff = float(np.nanmax(np.abs(a - b)))
                raise InputError(
                    f"{files[first[i]]}, {files[i]}",
                    f"t2m at {da['time'].values[i]}",
                    f"equal fields where files repeat a time (to {DUPLICATE_ATOL_K} K)",
                    f"differences up to {diff:.3f} K",
                )
        log.info("%s: %d repeated times with equal fields merged", where, int(repeat.sum()))
        da = da.isel(time=np.flatnonzero(~repeat))
    gaps = time_gaps(da["time"].values)
    if gaps:
        start, end = max(gaps, key=lambda g: g[1] - g[0])
        log.warning("%s: %d gap(s) in the times, the longest with no data between %s and %s", where, len(gaps), start, end)
    return da


def time_gaps(times: np.ndarray) -> list[tuple[np.datetime64, np.datetime64]]:
    """(last time before, first time after) for each step of sorted unique `times` longer than the most common step."""
    steps = np.diff(times)
    if steps.size == 0:
        return []
    usual = pd.Series(steps).mode().iloc[0].to_timedelta64()
    return [(times[i], times[i + 1]) for i in np.flatnonzero(steps > usual)]


def select_times(da: xr.DataArray, times: Sequence[np.datetime64], where: str | PathLike) -> xr.DataArray:
    """`da` at exactly `times`; a time `da` does not hold is an `InputError` listing the first few."""
    times = np.asarray(times, dtype="datetime64[ns]")
    missing = times[~np.isin(times, da["time"].values)]
    if missing.size:
        found = f"{missing.size} missing, from {missing[0]}"
        raise InputError(where, "time", "times the source holds (see .times())", found)
    return da.sel(time=times)


def times_in(times: np.ndarray, start: np.datetime64, end: np.datetime64) -> np.ndarray:
    return times[(times >= np.datetime64(start, "ns")) & (times <= np.datetime64(end, "ns"))]


class AnalysisFiles:
    """t2m analyses from the catalog's local files (`config.paths`), each read by `read` (path -> t2m `(time, y,
    x)` K), all read once on first use and merged along time (`merge_times`). Subclasses name the reader."""

    dims, remote = ANALYSIS, False

    def __init__(self, config: ERA5FileConfig, catalog: Catalog):
        self.name = config.kind
        self.paths = [catalog.path(p) for p in config.paths]

    @staticmethod
    def read(path: Path) -> xr.DataArray:
        raise NotImplementedError

    @functools.cached_property
    def data(self) -> xr.DataArray:
        """Every file merged: t2m `(time, y, x)` in K (see `merge_times`)."""
        return merge_times([self.read(p) for p in self.paths], self.paths)

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        return times_in(self.data["time"].values, start, end)

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        return select_times(self.data, times, ", ".join(map(str, self.paths)))


class ERA5Files(AnalysisFiles):
    """ERA5 t2m from the local GRIB/netCDF files in the catalog (`kind: era5_file`)."""

    read = staticmethod(read_era5_file)


# ----------------------------------------------------------------------------------------------------------
# ARCO-ERA5 zarr


class ERA5Arco:
    """ERA5 t2m from the ARCO-ERA5 zarr store (`kind: era5_arco`).

    The store (`gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3`, zarr v2 with consolidated
    metadata) holds `2m_temperature (time, latitude, longitude)` in K, hourly from 1940, latitude 90..-90,
    longitude 0..359.75, one time step per chunk. It is opened without dask (`chunks=None`: a dask graph over
    its ~10^6 time chunks would cost more than the read) and indexed lazily, so a call reads only the chunks
    of the requested times and keeps only `area` (north, west, south, east; None: the globe). `gs://` URLs
    are read anonymously and need `gcsfs`; any other URL fsspec or zarr can open works (tests use a folder).
    """

    dims, remote = ANALYSIS, True

    def __init__(self, config: ERA5ArcoConfig, catalog: Catalog):
        self.name = "era5_arco"
        self.url = config.url
        self.area = config.area

    @functools.cached_property
    def data(self) -> xr.DataArray:
        """The store's `2m_temperature` cut to `area`, lazy, dims `(time, latitude, longitude)` as stored."""
        options = {"token": "anon"} if self.url.startswith("gs://") else None
        try:
            ds = xr.open_zarr(self.url, chunks=None, storage_options=options)
        except (OSError, ValueError, KeyError) as e:
            raise InputError(self.url, "zarr store", "an ARCO-ERA5 zarr store", str(e)) from e
        name = SOURCE_KEYS["arco_era5"]
        if name not in ds.data_vars:
            raise InputError(self.url, "variable", repr(name), str(sorted(ds.data_vars)[:10]))
        da = ds[name]
        if set(da.dims) != {"time", "latitude", "longitude"}:
            raise InputError(self.url, f"{name} dimensions", "time, latitude, longitude", str(da.dims))
        if self.area is None:
            return da
        north, west, south, east = self.area
        lat, lon = da["latitude"].values, da["longitude"].values
        span = 360.0 if east - west >= 360.0 else (east - west) % 360.0
        rows = np.flatnonzero((lat <= north) & (lat >= south))
        cols = np.flatnonzero((lon - west) % 360.0 <= span)
        if rows.size == 0 or cols.size == 0:
            raise InputError(self.url, "area", "north, west, south, east enclosing grid points", str(self.area))
        return da.isel(latitude=rows, longitude=cols)

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        return times_in(self.data["time"].values.astype("datetime64[ns]"), start, end)

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        da = select_times(self.data, times, self.url).load()
        return to_grid(da.copy(data=to_kelvin(da.values, da.attrs.get("units"), self.url)), self.url)


# ----------------------------------------------------------------------------------------------------------
# Copernicus Climate Data Store


class ERA5CDS:
    """ERA5 t2m from the CDS (`kind: era5_cds`): `reanalysis-era5-single-levels`, `2m_temperature`, hourly, the
    catalog's `area`, GRIB.

    One request per calendar month (all days, all 24 hours: the unit the CDS queues best), downloaded to
    `<cache_dir>/era5_cds/era5-t2m-YYYY-MM-<hash of the request>.grib` through a `.part` file renamed when
    complete; a month whose file is there is never requested again. `client` is anything with cdsapi's
    `retrieve(name, request, target)` (default: `cdsapi.Client()`, which reads `~/.cdsapirc`).
    """

    dims, remote = ANALYSIS, True
    DATASET = "reanalysis-era5-single-levels"

    def __init__(self, config: ERA5CDSConfig, catalog: Catalog, client=None):
        self.name = "era5_cds"
        self.area = config.area
        self.cache = catalog.path(catalog.cache_dir) / "era5_cds"
        self._client = client

    @functools.cached_property
    def client(self):
        return self._client if self._client is not None else cdsapi.Client()

    def request(self, year: int, month: int) -> dict:
        """The CDS request for one month of hourly 2 m temperature over `area`."""
        return {
            "product_type": ["reanalysis"],
            "variable": [SOURCE_KEYS["cds_era5"]],
            "year": [f"{year:04d}"],
            "month": [f"{month:02d}"],
            "day": [f"{d:02d}" for d in range(1, calendar.monthrange(year, month)[1] + 1)],
            "time": [f"{h:02d}:00" for h in range(24)],
            "area": list(self.area),
            "data_format": "grib",
            "download_format": "unarchived",
        }

    def download(self, year: int, month: int) -> Path:
        """The cached GRIB file of one month, requested from the CDS only if it is not cached yet."""
        request = self.request(year, month)
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
        target = self.cache / f"era5-t2m-{year:04d}-{month:02d}-{digest}.grib"
        if not target.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            part = target.with_suffix(".part")
            log.info("requesting %s %04d-%02d from the CDS into %s", self.DATASET, year, month, target)
            self.client.retrieve(self.DATASET, request, str(part))
            part.rename(target)
        return target

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """The hours in [start, end] ERA5 has published: hourly, up to about `ERA5_LATENCY` ago."""
        last = min(pd.Timestamp(end), pd.Timestamp.now(tz="UTC").tz_localize(None) - ERA5_LATENCY)
        return pd.date_range(pd.Timestamp(start).ceil("h"), last.floor("h"), freq="h").to_numpy("datetime64[ns]")

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        times = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]"))
        months = sorted(set(zip(times.year, times.month)))
        paths = [self.download(year, month) for year, month in months]
        da = merge_times([read_era5_file(p) for p in paths], paths)
        return select_times(da, times.to_numpy(), ", ".join(map(str, paths)))
