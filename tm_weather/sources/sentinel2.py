"""Sentinel-2 L2A GeoTIFFs (12 bands B01..B12, int16 DN) and the DEM, LULC and NDVI rasters on the same grid.

Inside the system (see DESIGN.md) a tile is float32 surface reflectance `(band, y, x)`,
`(DN + BOA_ADD_OFFSET) / 10000`, with nodata and cloud pixels NaN in every band plus a boolean mask, its CRS and
transform attached with rioxarray, and its acquisition time in UTC. Read with rioxarray; tags with rasterio.

Processing baseline: ESA products from baseline 04.00 on (processed from 2022-01-25) store DN = 10000 * rho + 1000,
i.e. BOA_ADD_OFFSET = -1000; earlier ones, and harmonised collections such as Major-TOM / TerraMind's examples
(tests/data), have no offset.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import rioxarray
import xarray as xr

from tm_weather.errors import InputError
from tm_weather.lexicon import S2_BANDS
from tm_weather.series import TileGrid

log = logging.getLogger(__name__)

QUANTIFICATION = 10000.0  # ESA's BOA_QUANTIFICATION_VALUE: DN per unit reflectance
BASELINE_04_OFFSET = -1000  # BOA_ADD_OFFSET from processing baseline 04.00 on
BASELINE_04_START = np.datetime64("2022-01-25", "ns")
NODATA_DN = 0  # ESA's L2A NODATA value, used when the file declares none
SCL_CLOUD_CLASSES = (3, 8, 9, 10)  # cloud shadow, cloud medium / high probability, thin cirrus
#: Rasters next to a tile (`<root>/<KIND>/<tile>.tif`, TerraMind's layout) whose `datetime` tag gives its time.
TIME_SIBLINGS = ("S2RGB", "NDVI", "LULC")


@dataclass(frozen=True)
class S2Tile:
    """One Sentinel-2 L2A tile.

    `reflectance`: float32 `(band, y, x)`, band = B01..B12, surface reflectance (unitless), NaN where `mask`;
    `mask`: bool `(y, x)`, True where nodata or cloud; `time`: acquisition time, UTC `datetime64[ns]`;
    `boa_add_offset`: the offset that was removed (0 or -1000 DN); `path`: the file read.
    """

    reflectance: xr.DataArray
    mask: xr.DataArray
    time: np.datetime64
    boa_add_offset: int
    path: Path

    def __post_init__(self) -> None:
        r, m = self.reflectance, self.mask
        if r.dims != ("band", "y", "x") or tuple(r["band"].values) != S2_BANDS or r.dtype != np.float32:
            expected = f"float32 (band, y, x) with bands {S2_BANDS}"
            raise InputError(self.path, "reflectance", expected, f"{r.dtype} {r.dims}")
        if m.dims != ("y", "x") or m.dtype != bool or m.shape != r.shape[1:]:
            raise InputError(self.path, "mask", f"bool (y, x) of shape {r.shape[1:]}", f"{m.dtype} {m.dims} {m.shape}")
        nan = np.isnan(r.values)
        if not (np.array_equal(nan.any(axis=0), m.values) and np.array_equal(nan.all(axis=0), m.values)):
            raise InputError(self.path, "reflectance", "NaN in every band exactly where mask is True", "otherwise")
        if r.rio.crs is None:
            raise InputError(self.path, "CRS", "a CRS on the reflectance (rioxarray)", "none")
        if not isinstance(self.time, np.datetime64) or self.time.dtype != np.dtype("datetime64[ns]"):
            raise InputError(self.path, "time", "numpy datetime64[ns] (UTC)", repr(self.time))
        if self.boa_add_offset not in (0, BASELINE_04_OFFSET):
            raise InputError(self.path, "BOA_ADD_OFFSET", f"0 or {BASELINE_04_OFFSET}", str(self.boa_add_offset))

    @property
    def grid(self) -> TileGrid:
        return TileGrid.of(self.reflectance)


def read_s2l2a(
    path: str | Path,
    *,
    time: np.datetime64 | dt.datetime | str | None = None,
    boa_add_offset: int | None = None,
    scl: str | Path | None = None,
    window: tuple[slice, slice] | None = None,
) -> S2Tile:
    """Read a 12-band Sentinel-2 L2A GeoTIFF (DN, bands in `S2_BANDS` order) -> `S2Tile`.

    BOA_ADD_OFFSET is decided by, in order: the file's tags (`BOA_ADD_OFFSET` on the dataset or every band, or
    `PROCESSING_BASELINE`: -1000 from "04.00" on); else the `boa_add_offset` argument; else the acquisition date
    (-1000 from 2022-01-25, ESA's switch to baseline 04.00). An argument that contradicts the tags raises
    `InputError`. Harmonised products (Major-TOM, TerraMind, tests/data) carry no offset whatever their date:
    pass `boa_add_offset=0` for them.

    The acquisition time is the file's `datetime` tag, else that of a sibling `S2RGB`, `NDVI` or `LULC` file
    (`<root>/<KIND>/<name>`), else the `time` argument (UTC); a `time` contradicting a tag raises `InputError`,
    and no time at all raises `InputError`.

    Nodata pixels (DN equal to the file's nodata value, else 0, in any band) and, when `scl` (an SCL GeoTIFF on
    the same grid) is given, its classes 3, 8, 9 and 10 become NaN in every band and True in the mask.

    `window` (rows, columns): read only those pixels (then `scl` must be on the window's grid).
    """
    path = Path(path)
    da = _open(path, window)
    if da.sizes["band"] != len(S2_BANDS):
        raise InputError(path, "band count", f"{len(S2_BANDS)} bands ({' '.join(S2_BANDS)})", str(da.sizes["band"]))
    if not np.issubdtype(da.dtype, np.integer):
        raise InputError(path, "data type", "integer DN (reflectance x 10000)", str(da.dtype))
    acquired = _acquisition_time(path, time)
    offset = _boa_add_offset(path, boa_add_offset, acquired)
    nodata = NODATA_DN if da.rio.nodata is None else da.rio.nodata
    mask = (da == nodata).any("band")
    if scl is not None:
        mask = mask | read_scl(scl, TileGrid.of(da)).isin(SCL_CLOUD_CLASSES)
    reflectance = da.astype(np.float32)  # then scaled in place: a large scene is held once, not three times
    del da
    values = reflectance.values
    values += np.float32(offset)
    values /= np.float32(QUANTIFICATION)
    values[:, mask.values] = np.nan
    reflectance = reflectance.assign_coords(band=list(S2_BANDS))
    reflectance.encoding = {}
    reflectance.rio.write_nodata(np.nan, encoded=False, inplace=True)
    reflectance.name, reflectance.attrs = "reflectance", {"units": "1", "long_name": "surface reflectance"}
    return S2Tile(reflectance, mask.rename("mask"), acquired, offset, path)


def read_scl(path: str | Path, grid: TileGrid) -> xr.DataArray:
    """An SCL (scene classification) GeoTIFF on `grid` -> uint8 classes `(y, x)`."""
    return _open_on_grid(Path(path), grid).astype(np.uint8).rename("scl")


def read_dem(path: str | Path, grid: TileGrid) -> xr.DataArray:
    """A DEM GeoTIFF on `grid` -> elevation float32 `(y, x)` in metres, NaN where the file's nodata value is."""
    return _float_on_grid(Path(path), grid, "dem", {"units": "m", "long_name": "elevation"})


def read_ndvi(path: str | Path, grid: TileGrid) -> xr.DataArray:
    """An NDVI GeoTIFF on `grid` -> float32 `(y, x)` in -1..1, NaN where the file's nodata value is."""
    return _float_on_grid(Path(path), grid, "ndvi", {"units": "1", "long_name": "NDVI"})


def read_lulc(path: str | Path, grid: TileGrid) -> xr.DataArray:
    """A land-cover GeoTIFF on `grid` -> uint8 classes `(y, x)` (TerraMind's 1-9; see tests/data/PROVENANCE.md)."""
    path = Path(path)
    da = _open_on_grid(path, grid)
    if da.dtype != np.uint8:
        raise InputError(path, "data type", "uint8 land-cover classes", str(da.dtype))
    return da.rename("lulc")


def _open(path: Path, window: tuple[slice, slice] | None = None) -> xr.DataArray:
    """The GeoTIFF at `path` (only the pixels `window` = (rows, columns) when given), loaded `(band, y, x)`;
    `InputError` if unreadable or without a CRS."""
    try:
        with rioxarray.open_rasterio(path, masked=False) as da:
            da = (da if window is None else da.isel(y=window[0], x=window[1])).load()
    except OSError as e:  # rasterio's RasterioIOError is an OSError
        raise InputError(path, "file", "a readable GeoTIFF", str(e)) from e
    if da.rio.crs is None:
        raise InputError(path, "CRS", "a georeferenced GeoTIFF with a CRS", "none")
    return da


def _open_on_grid(path: Path, grid: TileGrid) -> xr.DataArray:
    """A single-band GeoTIFF `(y, x)` that must lie on `grid`, else `InputError`."""
    da = _open(path)
    if da.sizes["band"] != 1:
        raise InputError(path, "band count", "1 band", str(da.sizes["band"]))
    differs = grid.mismatch(TileGrid.of(da))
    if differs:
        raise InputError(path, "grid", "the Sentinel-2 tile's grid", differs)
    return da.squeeze("band", drop=True)


def _float_on_grid(path: Path, grid: TileGrid, name: str, attrs: dict) -> xr.DataArray:
    da = _open_on_grid(path, grid)
    nodata = da.rio.nodata
    out = da.astype(np.float32) if nodata is None else da.where(da != nodata).astype(np.float32)
    return out.rio.write_nodata(np.nan, encoded=False).rename(name).assign_attrs(attrs)


def _tag_time(path: Path) -> np.datetime64 | None:
    """The `datetime` tag of `path` as UTC datetime64[ns], or None."""
    with rasterio.open(path) as src:
        tag = src.tags().get("datetime")
    if tag is None:
        return None
    try:
        return _utc(tag)
    except ValueError as e:
        raise InputError(path, "datetime tag", "an ISO 8601 time", repr(tag)) from e


def _utc(value: np.datetime64 | dt.datetime | str) -> np.datetime64:
    """`value` as UTC datetime64[ns]: zone-aware times are converted, naive ones are taken as UTC."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.to_datetime64(), "ns")


def _acquisition_time(path: Path, time: np.datetime64 | dt.datetime | str | None) -> np.datetime64:
    candidates = [path] + [path.parent.parent / kind / path.name for kind in TIME_SIBLINGS]
    tagged = next(((p, t) for p in candidates if p.is_file() and (t := _tag_time(p)) is not None), None)
    given = None if time is None else _utc(time)
    if tagged is None and given is None:
        expected = (f"a datetime tag here or in {'/'.join(TIME_SIBLINGS)}, or the acquisition time given "
                    "(tm-weather generate --acquired, the catalog's tiles[].time)")
        raise InputError(path, "acquisition time", expected, "none")
    if tagged is not None and given is not None and tagged[1] != given:
        raise InputError(path, "acquisition time", f"{tagged[1]} (datetime tag of {tagged[0]})", f"argument {given}")
    return given if tagged is None else tagged[1]


def _tag_offset(path: Path) -> int | None:
    """BOA_ADD_OFFSET from the file's tags (dataset or per band, or PROCESSING_BASELINE), or None."""
    with rasterio.open(path) as src:
        tags = src.tags()
        band_offsets = {src.tags(i).get("BOA_ADD_OFFSET") for i in src.indexes}
    if band_offsets != {None} and len(band_offsets) != 1:
        found = str(sorted(band_offsets, key=str))
        raise InputError(path, "BOA_ADD_OFFSET band tags", "one value on every band", found)
    try:
        if "BOA_ADD_OFFSET" in tags:
            return int(float(tags["BOA_ADD_OFFSET"]))
        if band_offsets != {None}:
            return int(float(band_offsets.pop()))
        if "PROCESSING_BASELINE" in tags:
            return BASELINE_04_OFFSET if float(tags["PROCESSING_BASELINE"]) >= 4.0 else 0
    except ValueError as e:
        raise InputError(path, "BOA_ADD_OFFSET / PROCESSING_BASELINE tags", "numbers", str(tags)[:200]) from e
    return None


def _boa_add_offset(path: Path, argument: int | None, acquired: np.datetime64) -> int:
    return choose_boa_add_offset(path, _tag_offset(path), "the file's tags", argument, acquired)


def choose_boa_add_offset(where: str | Path, found: int | None, source: str, argument: int | None,
                          acquired: np.datetime64) -> int:
    """BOA_ADD_OFFSET (DN) of a product: `found` in its metadata (`source`: where, for messages), else `argument`,
    else by the acquisition date (-1000 from `BASELINE_04_START`). An argument contradicting the metadata raises
    `InputError` naming `where`."""
    if found is not None:
        if argument is not None and argument != found:
            raise InputError(where, "BOA_ADD_OFFSET", f"{found} (from {source})", f"argument {argument}")
        return found
    if argument is not None:
        return argument
    offset = BASELINE_04_OFFSET if acquired >= BASELINE_04_START else 0
    log.info("%s: no BOA_ADD_OFFSET in %s or argument; %d from the acquisition date %s", where, source, offset, acquired)
    return offset
