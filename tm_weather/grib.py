"""The ecCodes GRIB layer: 2 m temperature fields, wgrib2-format `.idx` inventories, reads by byte range.

Public functions (their signatures are stable; `tm_weather.sources.gfs` and `grib_file` build on them):

- `read_t2m(source, form)`: every 2 m temperature message of a GRIB1/GRIB2 file, or of an in-memory buffer
  (e.g. a Herbie-downloaded subset), as the contract DataArray of `tm_weather.lexicon.check_t2m`:
  analysis form `(time, y, x)` by valid time, or forecast form `(init_time, lead_time, y, x)` with a
  `valid_time` coordinate. Kelvin, float32; bitmap-missing points are NaN.
- `write_idx(grib_path, idx_path)`: a wgrib2-format inventory (`N:OFFSET:d=YYYYMMDDHH:VAR:LEVEL:FORECAST:`),
  written atomically, that Herbie (and `read_t2m_indexed`) can search and byte-range read.
- `idx_byte_ranges(idx_path, search)` and `read_byte_range(grib_path, start, end)`: the messages an `.idx`
  line search selects, and their bytes; `t2m_bytes` / `read_t2m_indexed` join them so a point extraction reads
  only the T2M message(s) of a file instead of scanning it.
- `read_t2m_files(paths, form)` and `t2m_times(source)`: several files as one array (through their `.idx` when
  present), and the (init, valid) times of a source's T2M messages from headers only.

Every ecCodes failure (truncated, corrupt, undecodable message) becomes an `InputError` naming the file and the
message number: never a crash, never a partial result. Import order: `tm_weather` (pyproj) before eccodes.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import pyproj
import rioxarray  # noqa: F401  (registers the .rio accessor used to attach the CRS)
import xarray as xr

import tm_weather  # noqa: F401  (pyproj before eccodes; see tm_weather/__init__.py)
import eccodes  # isort: skip
from eccodes.highlevel.reader import codes_new_from_stream  # isort: skip

from tm_weather.errors import InputError
from tm_weather.lexicon import SOURCE_KEYS, T2M, T2M_ATTRS, check_t2m, to_kelvin
from tm_weather.times import utc_time

Form = Literal["analysis", "forecast"]
T = TypeVar("T")

#: The `.idx` search string that selects 2 m temperature (as Herbie searches: a substring of the line).
T2M_SEARCH = SOURCE_KEYS["gfs"]


# ----------------------------------------------------------------------------------------------------------
# Reading 2 m temperature


def read_t2m(source: str | PathLike | bytes, form: Form = "analysis", where: str | PathLike | None = None) -> xr.DataArray:
    """All 2 m temperature messages in `source` (a GRIB1/GRIB2 file path, or the bytes of one or more messages).

    A message is T2M if its ecCodes shortName is `2t`, or (GRIB2) discipline 0 / category 0 / number 0 at
    `heightAboveGround` level 2. Grids (`_GRID_TYPES`): `regular_ll`, `regular_gg` (x = longitude in [-180, 180)
    when that keeps the axis evenly spaced, else as stored; y = latitude; EPSG:4326); `reduced_gg` (expanded
    along each row onto its densest row's longitudes: see `_reduced_gg_grid`); `rotated_ll` (x, y in rotated
    degrees, the rotated-pole CRS); `lambert`, `polar_stereographic`, `mercator` (x, y in metres of the
    message's projection). Projected and rotated grids carry 2-D `latitude`/`longitude`. Every scanning mode is
    read (`_scan_gather`); x and y run in the scanning directions. Every message must share one grid.

    Returns t2m float32 kelvin, `form="analysis"`: `(time, y, x)`, time = valid time, one message per time;
    `form="forecast"`: `(init_time, lead_time, y, x)` with `valid_time(init_time, lead_time)`, NaN where the
    source holds no message for an (init, lead) pair. `where` names the source in errors (default: the path,
    or "<GRIB bytes>").
    """
    where = where if where is not None else _name(source)
    return _combine(_decode_t2m(source, where), form, where)


def read_t2m_files(paths: Sequence[str | PathLike], form: Form = "analysis") -> xr.DataArray:
    """`read_t2m` over several GRIB files at once (e.g. one file per lead time), each read through the `.idx`
    beside it when there is one (`t2m_source`); the same array contract, stacked across the files."""
    decoded = [d for path in paths for d in _decode_t2m(t2m_source(path), path)]
    return _combine(decoded, form, paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more files)")


def t2m_times(source: str | PathLike | bytes, where: str | PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(init times, valid times), datetime64[ns], of the T2M messages in `source`, from message headers only."""
    where = where if where is not None else _name(source)

    def visit(number: int, h: int) -> tuple[np.datetime64, np.datetime64] | None:
        return _times(h, where, number) if _is_t2m(h) else None

    found = [t for t in _each_message(source, where, visit, headers_only=True) if t is not None]
    if not found:
        raise InputError(where, "2 m temperature", _T2M_EXPECTED, "none")
    inits, valids = zip(*found)
    return np.array(inits, dtype="datetime64[ns]"), np.array(valids, dtype="datetime64[ns]")


def t2m_source(grib_path: str | PathLike) -> Path | bytes:
    """What to decode for the T2M of `grib_path`: the bytes of its T2M messages when an `.idx` lies beside it
    (`t2m_bytes`: the rest of the file is never read), else the path itself (ecCodes scans every message)."""
    idx = idx_path_for(grib_path)
    return t2m_bytes(grib_path, idx) if idx.exists() else Path(grib_path)


def t2m_bytes(grib_path: str | PathLike, idx_path: str | PathLike | None = None) -> bytes:
    """The bytes of the T2M messages of `grib_path`, located by the lines of its wgrib2 `.idx` (default: beside
    the file) that contain `T2M_SEARCH`. Raises `InputError` if the `.idx` lists none."""
    idx_path = Path(idx_path) if idx_path is not None else idx_path_for(grib_path)
    ranges = idx_byte_ranges(idx_path, T2M_SEARCH)
    if not ranges:
        raise InputError(idx_path, "2 m temperature", f"an inventory line matching {T2M_SEARCH!r}", "none")
    return b"".join(read_byte_range(grib_path, start, end) for start, end in ranges)


def read_t2m_indexed(
    grib_path: str | PathLike, idx_path: str | PathLike | None = None, form: Form = "analysis"
) -> xr.DataArray:
    """Like `read_t2m(grib_path, form)`, but decoding only the messages the `.idx` lists for T2M (`t2m_bytes`)."""
    return read_t2m(t2m_bytes(grib_path, idx_path), form, where=grib_path)


_T2M_EXPECTED = "at least one message with shortName '2t' (TMP at 2 m above ground)"


def _name(source: str | PathLike | bytes) -> str | PathLike:
    return "<GRIB bytes>" if isinstance(source, bytes) else source


def _decode_t2m(source: str | PathLike | bytes, where: str | PathLike) -> list[tuple[_Grid, _Field]]:
    """The grid and decoded field of every T2M message in `source`; `InputError` if there is none."""

    def visit(number: int, h: int) -> tuple[_Grid, _Field] | None:
        if not _is_t2m(h):
            return None
        grid = _grid(h, where, number)
        return grid, _field(h, grid, where, number)

    decoded = [d for d in _each_message(source, where, visit) if d is not None]
    if not decoded:
        raise InputError(where, "2 m temperature", _T2M_EXPECTED, "none")
    return decoded


def _combine(decoded: list[tuple[_Grid, _Field]], form: Form, where: str | PathLike) -> xr.DataArray:
    """Decoded T2M messages on one grid -> the checked contract DataArray (see `read_t2m`)."""
    grids = {grid.key: grid for grid, _ in decoded}
    if len(grids) > 1:
        raise InputError(where, "2 m temperature grids", "one grid for every T2M message", f"{len(grids)} grids")
    da = _stack([field for _, field in decoded], decoded[0][0], form, where)
    return check_t2m(da, where)


@dataclass(frozen=True)
class _Grid:
    """One message's grid, laid out `(y, x)`. `x`, `y`: 1-D coordinates (degrees or metres) in the scanning
    directions; `x_shift`: columns the values are rotated left by so that `x` increases after wrapping longitudes
    (0: as stored); `latitude`, `longitude`: 2-D (y, x) degrees for projected and rotated grids, else None; `crs`:
    WKT; `points`: how many values a message on this grid holds; `gather`: how its values `(points,)` become the
    `(y, x)` layout (`arrange`): None (already rows of x), flat indices `(ny * nx,)` (scanning modes), or
    (i0, i1, w) `(ny * nx,)` each, `(1 - w) * values[i0] + w * values[i1]` (a reduced grid's rows interpolated)."""

    key: str  # ecCodes md5GridSection: equal keys mean identical grids
    crs: str
    x: np.ndarray
    y: np.ndarray
    x_shift: int
    latitude: np.ndarray | None
    longitude: np.ndarray | None
    gather: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray] | None
    points: int

    def __post_init__(self) -> None:
        for a in (self.x, self.y, self.latitude, self.longitude):
            if a is not None:
                a.flags.writeable = False  # cached and shared by every array read on this grid

    def arrange(self, values: np.ndarray) -> np.ndarray:
        """A message's values `(points,)`, in its scanning order -> `(y.size, x.size)` (columns before `x_shift`)."""
        shape = (self.y.size, self.x.size)
        if self.gather is None:
            return values.reshape(shape)
        if isinstance(self.gather, np.ndarray):
            return values[self.gather].reshape(shape)
        i0, i1, w = self.gather
        return ((1.0 - w) * values[i0] + w * values[i1]).reshape(shape)


@dataclass(frozen=True)
class _Field:
    init: np.datetime64
    valid: np.datetime64
    values: np.ndarray  # (y, x) float32 kelvin, columns as stored (`_stack` applies the grid's x_shift)


def _each_message(
    source: str | PathLike | bytes, where: str | PathLike, visit: Callable[[int, int], T], headers_only: bool = False
) -> list[T]:
    """`visit(number, handle)` for each message (numbered from 1), in file order; the results. `headers_only`
    (files only) skips loading the data sections, for visits that read no values.

    Every ecCodes error, while reading a message or in `visit` (truncated, corrupt or undecodable message),
    becomes an `InputError` naming `where` and the message; a source holding no GRIB message is one too.
    """
    results: list[T] = []
    try:
        with (io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")) as f:
            while True:
                # Files go through ecCodes' own FILE* reader; buffers through its stream reader, which (unlike
                # eccodes.highlevel.MemoryReader) raises on a truncated last message instead of stopping quietly.
                h = codes_new_from_stream(f) if isinstance(source, bytes) else eccodes.codes_grib_new_from_file(f, headers_only)
                if h is None:
                    break
                try:
                    results.append(visit(len(results) + 1, h))
                finally:
                    eccodes.codes_release(h)
    except OSError as e:
        raise InputError(where, "file", "a readable GRIB file", e.strerror or str(e)) from e
    except (eccodes.GribInternalError, OverflowError) as e:  # OverflowError: a corrupt length field (> 2**63)
        raise InputError(where, f"GRIB message {len(results) + 1}", "a complete, decodable GRIB message", str(e)) from e
    if not results:
        raise InputError(where, "GRIB messages", "at least one GRIB message", "none")
    _check_tail(source, where, len(results))
    return results


def _check_tail(source: str | PathLike | bytes, where: str | PathLike, count: int) -> None:
    """Raise `InputError` when the bytes after the last complete message ('7777') are the start of another
    message ('G', 'GR', 'GRI'): a file cut inside the next message's header, which ecCodes skips as junk."""
    if isinstance(source, bytes):
        tail = source[-8:]
    else:
        with open(source, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 8))
            tail = f.read()
    end = tail.rfind(b"7777")
    rest = tail[end + 4:] if end >= 0 else b""
    if rest and b"GRIB".startswith(rest):
        raise InputError(where, f"GRIB message {count + 1}", "a complete GRIB message (the file is truncated)",
                         f"{len(rest)} bytes of its header")


def _is_t2m(h: int) -> bool:
    if eccodes.codes_get(h, "shortName") == "2t":
        return True
    return eccodes.codes_get_long(h, "edition") == 2 and (
        [eccodes.codes_get_long(h, k) for k in ("discipline", "parameterCategory", "parameterNumber")] == [0, 0, 0]
        and eccodes.codes_get_string(h, "typeOfLevel") == "heightAboveGround"
        and eccodes.codes_get_long(h, "level") == 2
        and eccodes.codes_get_long(h, "productDefinitionTemplateNumber") in (0, 1)  # instantaneous, not max/min
    )


_grid_cache: dict[str, _Grid] = {}

#: What each gridType is read as (see `_grid`). ECMWF's and NOAA's 2 m temperature grids are all among these.
_GRID_TYPES = ("regular_ll", "regular_gg", "rotated_ll", "reduced_gg", "lambert", "polar_stereographic", "mercator")


def _grid(h: int, where: str | PathLike, number: int) -> _Grid:
    """The message's grid (cached by ecCodes' md5 of the grid section: building one may cost a lat/lon array).

    Before a grid is trusted its own description must agree with itself (`_GridKeys.check_span`, `_check_points`):
    first and last points, increments and point counts; a grid section that does not (a flipped byte, a wrong
    count) is an `InputError`, never a shifted field. A gridType not in `_GRID_TYPES` is an `InputError` too."""
    key = eccodes.codes_get_string(h, "md5GridSection")
    if key not in _grid_cache:
        grid_type = eccodes.codes_get_string(h, "gridType")
        builders: dict[str, Callable[[_GridKeys], _Grid]] = {
            "regular_ll": _regular_ll_grid, "regular_gg": _regular_ll_grid, "rotated_ll": _regular_ll_grid,
            "reduced_gg": _reduced_gg_grid,
            "lambert": _projected_grid, "polar_stereographic": _projected_grid, "mercator": _projected_grid,
        }
        if grid_type not in builders:
            raise InputError(where, f"GRIB message {number} gridType", " or ".join(_GRID_TYPES), repr(grid_type))
        _grid_cache[key] = builders[grid_type](_GridKeys(h, key, grid_type, where, number))
    return _grid_cache[key]


@dataclass(frozen=True)
class _GridKeys:
    """What a grid builder reads: the message handle `h`, its grid `key` and `grid_type`, and `where`/`number`
    for errors."""

    h: int
    key: str
    grid_type: str
    where: str | PathLike
    number: int

    def get(self, name: str) -> float:
        return eccodes.codes_get_double(self.h, name)

    def flag(self, name: str) -> bool:
        return bool(eccodes.codes_get_long(self.h, name))

    def error(self, field: str, expected: str, found: str) -> InputError:
        return InputError(self.where, f"GRIB message {self.number} {field}", expected, found)

    def shape(self) -> tuple[int, int]:
        """(ny, nx) of a regular grid (ecCodes' Nj/Ni, which alias Ny/Nx on projected grids), checked against the
        number of points the message holds."""
        ny, nx = eccodes.codes_get_long(self.h, "Nj"), eccodes.codes_get_long(self.h, "Ni")
        points = eccodes.codes_get_long(self.h, "numberOfDataPoints")
        if ny < 1 or nx < 1 or ny * nx != points:
            raise self.error("grid size", f"Nj x Ni = numberOfDataPoints ({points})", f"{ny} x {nx}")
        return ny, nx

    def check_span(self, name: str, first: float, last: float, n: int, step: float, periodic: bool = False,
                   tolerance: float | None = None) -> None:
        """First and last point of an axis `n` points long must lie (n - 1) increments `step` apart (degrees, or
        metres with a `tolerance`; `periodic`: longitudes, the span taken modulo 360 in the scanning direction).
        The default tolerance for degrees is the precision the message codes them in: a unit of its last digit
        (1/angleSubdivisions) per point. Skipped when the increment is not coded."""
        if not np.isfinite(step) or step <= 0 or n < 2:
            return
        span = abs(last - first) if not periodic else (last - first) % 360.0
        if tolerance is None:
            tolerance = (n + 1) / eccodes.codes_get_long(self.h, "angleSubdivisions")
        if abs(span - (n - 1) * step) > tolerance:
            raise self.error(
                "grid", f"{name}: first to last point = (points - 1) x increment = {n - 1} x {step:g} = {(n - 1) * step:g}",
                f"first {first:g}, last {last:g}: {span:g} apart",
            )


def _scan_gather(k: _GridKeys, ny: int, nx: int) -> np.ndarray | None:
    """Where each point of the `(ny, nx)` layout sits among the message's values, flattened; None when the values
    already are that layout (rows of consecutive x points, all scanned the same way).

    The layout keeps the scanning directions: row 0 is the first row scanned, column 0 the first point of a row,
    so `iScansNegatively` and `jScansPositively` only set the direction of the x and y axes. `jPointsAreConsecutive`
    (columns stored one after the other) is transposed; `alternativeRowScanning` (boustrophedon) reverses every
    second row, counted from the first row scanned, after that transposition: exactly ecCodes' reading of the four
    flags in its projected geo-iterators (Lambert, polar stereographic, Mercator). ecCodes' lat/lon and Gaussian
    iterators (2.50) ignore `alternativeRowScanning` (the Gaussian one also `jPointsAreConsecutive`); here every
    regular grid reads the flags the same way (WMO code table 3.4: adjacent rows scan in opposite directions)."""
    columns, alternate = k.flag("jPointsAreConsecutive"), k.flag("alternativeRowScanning")
    if not columns and not alternate:
        return None
    index = np.arange(ny * nx, dtype=np.int64)
    layout = index.reshape(nx, ny).T.copy() if columns else index.reshape(ny, nx)
    if alternate:
        layout[1::2] = layout[1::2, ::-1]
    return layout.ravel()


def _longitude_axis(k: _GridKeys, first: float, last: float, nx: int, step: float) -> tuple[np.ndarray, int]:
    """Longitudes (or rotated longitudes) `(nx,)` in scanning order from the first and last points, and the column
    rotation `x_shift` that wraps 0..360 to -180..180 with x increasing (0: kept as stored, e.g. a Pacific window
    150..210 E, whose wrapped axis would not increase evenly)."""
    negative = k.flag("iScansNegatively")
    k.check_span("longitudes", last if negative else first, first if negative else last, nx, step, periodic=True)
    if negative:
        last = last - 360.0 if last > first else last
    else:
        last = last + 360.0 if last < first else last
    lon = np.linspace(first, last, nx)
    shift = int(np.argmin((lon + 180.0) % 360.0 - 180.0))
    wrapped = np.roll((lon + 180.0) % 360.0 - 180.0, -shift)
    steps = np.diff(wrapped)
    if nx > 1 and steps[0] > 0 and np.allclose(steps, steps[0]):
        return wrapped, shift
    return lon, 0


def _latitude_rows(k: _GridKeys, first: float, last: float, ny: int) -> np.ndarray:
    """Latitudes of the rows `(ny,)` in scanning order: evenly spaced (regular_ll, rotated_ll) or ecCodes' Gaussian
    latitudes (`distinctLatitudes`) between the first and last rows (regular_gg)."""
    if k.flag("jScansPositively") != (last >= first) and ny > 1:
        raise k.error("grid", "latitudes of the first and last rows in the scanning direction", f"{first:g} to {last:g}")
    if k.grid_type != "regular_gg":
        step = k.get("jDirectionIncrementInDegrees") if k.flag("ijDirectionIncrementGiven") else np.nan
        k.check_span("latitudes", first, last, ny, step)
        return np.linspace(first, last, ny)
    gaussian = np.sort(eccodes.codes_get_double_array(k.h, "distinctLatitudes"))
    unit = 1.0 / eccodes.codes_get_long(k.h, "angleSubdivisions")
    lat = gaussian[(gaussian >= min(first, last) - unit) & (gaussian <= max(first, last) + unit)]
    if lat.size != ny:
        raise k.error("grid", f"{ny} Gaussian latitudes between the first and last rows", f"{lat.size}")
    return lat if k.flag("jScansPositively") else lat[::-1]


def _regular_ll_grid(k: _GridKeys) -> _Grid:
    """regular_ll, regular_gg and rotated_ll: axes in degrees from the first and last points (for rotated_ll, in the
    rotated frame, with a CRS of the rotated pole; 2-D `latitude`/`longitude` from pyproj).

    The axes are built from the grid's corners rather than ecCodes' per-point `latitudes` keys, which walk all
    Ni x Nj points (0.6 s on the 0.25 deg global grid); tests compare them with ecCodes' geo-iterator."""
    ny, nx = k.shape()
    lat = _latitude_rows(k, k.get("latitudeOfFirstGridPointInDegrees"), k.get("latitudeOfLastGridPointInDegrees"), ny)
    step = k.get("iDirectionIncrementInDegrees") if k.flag("ijDirectionIncrementGiven") else np.nan
    lon, shift = _longitude_axis(k, k.get("longitudeOfFirstGridPointInDegrees"), k.get("longitudeOfLastGridPointInDegrees"), nx, step)
    gather = _scan_gather(k, ny, nx)
    if k.grid_type != "rotated_ll":
        return _Grid(k.key, _EPSG4326, lon, lat, shift, None, None, gather, ny * nx)
    crs = pyproj.CRS.from_cf({
        "grid_mapping_name": "rotated_latitude_longitude",
        "grid_north_pole_latitude": -k.get("latitudeOfSouthernPoleInDegrees"),
        "grid_north_pole_longitude": (k.get("longitudeOfSouthernPoleInDegrees") + 360.0) % 360.0 - 180.0,
        "north_pole_grid_longitude": -k.get("angleOfRotationInDegrees"),
    })
    to_lonlat = pyproj.Transformer.from_crs(crs, _EPSG4326, always_xy=True)
    x2, y2 = np.meshgrid(lon, lat)
    glon, glat = to_lonlat.transform(x2, y2)
    return _Grid(k.key, crs.to_wkt(), lon, lat, shift, np.asarray(glat), (np.asarray(glon) + 180.0) % 360.0 - 180.0, gather, ny * nx)


_EPSG4326 = pyproj.CRS.from_epsg(4326).to_wkt()


def _projected_grid(k: _GridKeys) -> _Grid:
    """Lambert conformal (URMA/RTMA/NBM CONUS), polar stereographic (Alaska) and Mercator (Hawaii, Puerto Rico,
    Guam): the CRS from ecCodes' `projString` (built from the projection keys and the earth shape), x, y in metres
    from the first point stepped by Dx, Dy in the scanning directions (WMO: the first point is the first scanned).
    The grid must agree with ecCodes' own point positions (`_check_points`) and, on Mercator, with its last point.

    2-D `latitude`/`longitude` are ecCodes' positions where the first point is the south-west corner (scanning
    east and north: every NOAA product); otherwise pyproj's, from the axes, because ecCodes (2.50) lays its
    projected geo-iterators out from the first point eastwards and northwards whatever the scanning flags (it
    reorders the values to match, so its values stay right, its positions do not)."""
    ny, nx = k.shape()
    crs = pyproj.CRS.from_proj4(eccodes.codes_get_string(k.h, "projString"))
    to_xy = pyproj.Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
    x0, y0 = to_xy.transform(k.get("longitudeOfFirstGridPointInDegrees"), k.get("latitudeOfFirstGridPointInDegrees"))
    dx, dy = (k.get("DiInMetres"), k.get("DjInMetres")) if k.grid_type == "mercator" else (k.get("DxInMetres"), k.get("DyInMetres"))
    if not (np.isfinite([x0, y0, dx, dy]).all() and dx > 0 and dy > 0):
        raise k.error("grid", "a first point inside the projection and increments > 0", f"x0 {x0}, y0 {y0}, Dx {dx}, Dy {dy}")
    east, north = not k.flag("iScansNegatively"), k.flag("jScansPositively")
    x, y = x0 + (1.0 if east else -1.0) * dx * np.arange(nx), y0 + (1.0 if north else -1.0) * dy * np.arange(ny)
    if k.grid_type == "mercator":
        x1, y1 = to_xy.transform(k.get("longitudeOfLastGridPointInDegrees"), k.get("latitudeOfLastGridPointInDegrees"))
        k.check_span("x", x0, x1, nx, dx, tolerance=0.01 * dx)
        k.check_span("y", y0, y1, ny, dy, tolerance=0.01 * dy)
    lat = eccodes.codes_get_double_array(k.h, "latitudes").reshape(ny, nx)
    lon = eccodes.codes_get_double_array(k.h, "longitudes").reshape(ny, nx)
    _check_points(k, to_xy, lon, lat, x0 + dx * np.arange(nx), y0 + dy * np.arange(ny))
    if not (east and north):
        lon, lat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(*np.meshgrid(x, y))
    return _Grid(k.key, crs.to_wkt(), x, y, 0, np.asarray(lat), (np.asarray(lon) + 180.0) % 360.0 - 180.0,
                 _scan_gather(k, ny, nx), ny * nx)


#: Every how many points in each direction `_check_points` compares: ~1/256 of a 2345 x 1597 grid, with its edges.
_CHECK_STRIDE = 16


def _check_points(k: _GridKeys, to_xy: pyproj.Transformer, lon: np.ndarray, lat: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """ecCodes' own point positions `(ny, nx)` (west to east, south to north from the first point: its frame),
    projected, must lie on the axes `x` `(nx,)`, `y` `(ny,)` of that frame to 1 % of a step; every
    `_CHECK_STRIDE`-th point and the last row and column are compared."""
    rows = np.unique(np.r_[np.arange(0, y.size, _CHECK_STRIDE), y.size - 1])
    cols = np.unique(np.r_[np.arange(0, x.size, _CHECK_STRIDE), x.size - 1])
    px, py = to_xy.transform(lon[np.ix_(rows, cols)], lat[np.ix_(rows, cols)])
    off = max(np.max(np.abs(px - x[cols])), np.max(np.abs(py - y[rows][:, None])))
    step = min(np.abs(np.diff(x)).min(initial=np.inf), np.abs(np.diff(y)).min(initial=np.inf))
    if not np.isfinite(off) or off > 0.01 * step:
        raise k.error("grid", "ecCodes' point positions on the grid the first point and increments define", f"{off:g} m off")


def _reduced_gg_grid(k: _GridKeys) -> _Grid:
    """A global reduced Gaussian grid (ECMWF's native grids: classic `N` and octahedral `O`), expanded onto the
    regular grid of its densest row: y = the rows' Gaussian latitudes (north to south, as stored), x = max(pl)
    evenly spaced longitudes from the first point's; each row is linearly interpolated along its latitude
    (periodic in longitude) onto x. Values on the densest rows, and wherever a row's point falls on x, are the
    stored ones; point extraction and regridding then interpolate bilinearly between those rows (so: linear along
    each row, then linear between rows). Only scanning mode 0 (north to south, west to east, the only one ECMWF
    writes; ecCodes' reduced Gaussian geo-iterator ignores the flags) and whole latitude circles are read."""
    if eccodes.codes_get_long(k.h, "scanningMode") != 0:
        raise k.error("scanning mode", "0 on a reduced Gaussian grid", str(eccodes.codes_get_long(k.h, "scanningMode")))
    pl = eccodes.codes_get_long_array(k.h, "pl")
    points = eccodes.codes_get_long(k.h, "numberOfDataPoints")
    if pl.min() < 1 or int(pl.sum()) != points:
        raise k.error("grid size", f"the pl array summing to numberOfDataPoints ({points})", str(int(pl.sum())))
    lat, lon = eccodes.codes_get_double_array(k.h, "latitudes"), eccodes.codes_get_double_array(k.h, "longitudes")
    start = np.concatenate([[0], np.cumsum(pl)[:-1]])
    first = k.get("longitudeOfFirstGridPointInDegrees")
    nlon = int(pl.max())
    unit = 1.0 / eccodes.codes_get_long(k.h, "angleSubdivisions")
    k.check_span("longitudes of the densest row", first, k.get("longitudeOfLastGridPointInDegrees"), nlon, 360.0 / nlon, periodic=True)
    i0, i1, w = [], [], []
    column = np.arange(nlon, dtype=np.int64)
    for s, n in zip(start, pl):
        row = lon[s : s + n]
        if not np.allclose((row - first - 360.0 * np.arange(n) / n + 180.0) % 360.0 - 180.0, 0.0, atol=2 * unit):
            raise k.error("grid", f"the {n} points of the row at {lat[s]:g} N evenly round the circle from {first:g}", "otherwise")
        # Column c at first + 360 c / nlon lies between row points floor(c n / nlon) and the next: exact integers.
        at = column * n
        i0.append(s + at // nlon)
        i1.append(np.where(at % nlon == 0, s + at // nlon, s + (at // nlon + 1) % n))  # on a point: only that one
        w.append((at % nlon) / nlon)
    x, shift = _longitude_axis(k, first, first + 360.0 * (nlon - 1) / nlon, nlon, 360.0 / nlon)
    gather = (np.concatenate(i0), np.concatenate(i1), np.concatenate(w).astype(np.float32))
    return _Grid(k.key, _EPSG4326, x, lat[start], shift, None, None, gather, points)


def _field(h: int, grid: _Grid, where: str | PathLike, number: int) -> _Field:
    """Decode one T2M message: values (y, x) in K with bitmap-missing points NaN, init and valid times."""
    values = eccodes.codes_get_double_array(h, "values")
    if values.size != grid.points:  # a corrupt grid section
        raise InputError(where, f"GRIB message {number} values", f"the grid's {grid.points} points", str(values.size))
    if eccodes.codes_get_long(h, "bitmapPresent"):
        values[eccodes.codes_get_long_array(h, "bitmap") == 0] = np.nan
    values = to_kelvin(grid.arrange(values), eccodes.codes_get_string(h, "units"), where, f"{T2M} (GRIB message {number})")
    return _Field(*_times(h, where, number), values)


def _times(h: int, where: str | PathLike, number: int) -> tuple[np.datetime64, np.datetime64]:
    """(init, valid) of a message. The valid time is ecCodes' validityDate/Time, which apply the step in
    whatever unit the message codes it (hours, minutes, days), so the lead is valid - init."""
    field = f"GRIB message {number}"
    init = _datetime(eccodes.codes_get_long(h, "dataDate"), eccodes.codes_get_long(h, "dataTime"), where, field)
    valid = _datetime(eccodes.codes_get_long(h, "validityDate"), eccodes.codes_get_long(h, "validityTime"), where, field)
    return init, valid


def _datetime(date: int, hhmm: int, where: str | PathLike, field: str) -> np.datetime64:
    """ecCodes date (YYYYMMDD) and time (HHMM) -> datetime64[ns] UTC; `InputError` for a date that does not exist
    (a corrupt section: day 42) or lies outside the range of `tm_weather.times`."""
    try:
        value = dt.datetime(date // 10000, date // 100 % 100, date % 100, hhmm // 100, hhmm % 100)
    except ValueError as e:
        raise InputError(where, f"{field} date", "a valid date and time (YYYYMMDD HHMM)", f"{date:08d} {hhmm:04d}") from e
    return utc_time(value, where, f"{field} date")


def _stack(fields: list[_Field], grid: _Grid, form: Form, where: str | PathLike) -> xr.DataArray:
    """Stack decoded fields into the contract DataArray (see `read_t2m`), copying each field once, straight into
    its slot of the result (with the longitude wrap's column rotation)."""
    if form == "analysis":
        times = np.array([f.valid for f in fields], dtype="datetime64[ns]")
        _unique(times, where, "valid time")
        axes = {"time": np.sort(times)}
        slots = [(int(np.searchsorted(axes["time"], t)),) for t in times]
    else:
        keys = [(f.init, f.valid - f.init) for f in fields]
        _unique(np.array([f"{i}/{lead}" for i, lead in keys]), where, "(init time, lead time)")
        axes = {
            "init_time": np.unique(np.array([k[0] for k in keys], dtype="datetime64[ns]")),
            "lead_time": np.unique(np.array([k[1] for k in keys], dtype="timedelta64[ns]")),
        }
        slots = [(int(np.searchsorted(axes["init_time"], i)), int(np.searchsorted(axes["lead_time"], lead))) for i, lead in keys]
    shape = tuple(a.size for a in axes.values())
    cube = np.empty(shape + (grid.y.size, grid.x.size), dtype=np.float32)
    filled = np.zeros(shape, dtype=bool)
    n, k = grid.x.size, grid.x_shift
    for slot, f in zip(slots, fields):
        cube[slot][:, : n - k] = f.values[:, k:]
        cube[slot][:, n - k :] = f.values[:, :k]
        filled[slot] = True
    cube[~filled] = np.nan  # (init, lead) pairs the source holds no message for
    da = xr.DataArray(cube, dims=(*axes, "y", "x"), coords={**axes, "y": grid.y, "x": grid.x})
    if form == "forecast":
        da = da.assign_coords(valid_time=da.init_time + da.lead_time)
    if grid.latitude is not None:
        da = da.assign_coords(latitude=(("y", "x"), grid.latitude), longitude=(("y", "x"), grid.longitude))
    da.name = T2M
    da.attrs.update(T2M_ATTRS)
    return da.rio.write_crs(grid.crs, inplace=True)  # inplace: a copy would duplicate the whole array


def _unique(keys: np.ndarray, where: str | PathLike, what: str) -> None:
    values, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        raise InputError(where, f"2 m temperature {what}", "one message each", f"{values[counts > 1][0]} repeated")


# ----------------------------------------------------------------------------------------------------------
# wgrib2-format inventories


def idx_path_for(grib_path: str | PathLike) -> Path:
    """Where the `.idx` of `grib_path` lives: beside it, the name plus `.idx` (NOAA's and Herbie's convention)."""
    return Path(f"{grib_path}.idx")


def write_idx(grib_path: str | PathLike, idx_path: str | PathLike | None = None) -> Path:
    """Write the wgrib2-format inventory of a GRIB2 file (default: `grib_path + ".idx"`) and return its path.

    One line per message, as `wgrib2 -s` writes it and NOAA publishes it beside GFS/HRRR files:
    `N:BYTE_OFFSET:d=YYYYMMDDHH:VAR:LEVEL:FORECAST:`, e.g. `581:420191661:d=2026082600:TMP:2 m above ground:6 hour fcst:`.
    The file is written to a temporary name in the same folder and renamed, so a reader never sees half of it;
    a bad GRIB file raises `InputError` and writes nothing.
    """
    grib_path = Path(grib_path)
    idx_path = Path(idx_path) if idx_path is not None else idx_path_for(grib_path)

    def line(number: int, h: int) -> str:
        if eccodes.codes_get_long(h, "edition") != 2:
            raise InputError(grib_path, f"GRIB message {number} edition", "GRIB2 (wgrib2 inventories cover GRIB2 only)", "GRIB1")
        date, hhmm = eccodes.codes_get_long(h, "dataDate"), eccodes.codes_get_long(h, "dataTime")
        offset = eccodes.codes_get_long(h, "offset")
        return f"{number}:{offset}:d={date:08d}{hhmm // 100:02d}:{_idx_var(h)}:{_idx_level(h)}:{_idx_forecast(h)}:\n"

    lines = _each_message(grib_path, grib_path, line, headers_only=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{idx_path.name}.", dir=idx_path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
        os.replace(tmp, idx_path)
    except BaseException:
        os.unlink(tmp)
        raise
    return idx_path


# wgrib2's variable abbreviations by (discipline, category, number): ecCodes knows these parameters only by its
# own shortNames (`2t`, `t`, `gh`), so the NCEP names that `.idx` searches use are listed here by hand.
_WGRIB2_NAMES = {
    (0, 0, 0): "TMP", (0, 0, 2): "POT", (0, 0, 4): "TMAX", (0, 0, 5): "TMIN", (0, 0, 6): "DPT",
    (0, 0, 10): "LHTFL", (0, 0, 11): "SHTFL", (0, 0, 21): "APTMP",
    (0, 1, 0): "SPFH", (0, 1, 1): "RH", (0, 1, 3): "PWAT", (0, 1, 7): "PRATE", (0, 1, 8): "APCP",
    (0, 1, 10): "ACPCP", (0, 1, 11): "SNOD", (0, 1, 13): "WEASD", (0, 1, 22): "CLWMR", (0, 1, 37): "CPRAT",
    (0, 2, 0): "WDIR", (0, 2, 1): "WIND", (0, 2, 2): "UGRD", (0, 2, 3): "VGRD", (0, 2, 8): "VVEL",
    (0, 2, 10): "ABSV", (0, 2, 22): "GUST",
    (0, 3, 0): "PRES", (0, 3, 1): "PRMSL", (0, 3, 5): "HGT",
    (0, 4, 7): "DSWRF", (0, 5, 3): "DLWRF", (0, 6, 1): "TCDC", (0, 7, 6): "CAPE", (0, 7, 7): "CIN",
    (0, 19, 0): "VIS", (2, 0, 0): "LAND", (10, 2, 0): "ICEC",
}
#: NCEP's local parameters (numbers 192..254, centre 7) that GFS carries.
_WGRIB2_NCEP_LOCAL_NAMES = {
    (0, 1, 192): "CRAIN", (0, 1, 193): "CFRZR", (0, 1, 194): "CICEP", (0, 1, 195): "CSNOW",
    (0, 3, 196): "HPBL", (0, 14, 192): "O3MR",
}
_NCEP = 7


def _idx_var(h: int) -> str:
    """wgrib2's name for the parameter; for one not in the tables, wgrib2's own wording for unknown codes."""
    code = tuple(eccodes.codes_get_long(h, k) for k in ("discipline", "parameterCategory", "parameterNumber"))
    centre = eccodes.codes_get_long(h, "centre")
    if code[2] >= 192:  # local use
        name = _WGRIB2_NCEP_LOCAL_NAMES.get(code) if centre == _NCEP else None
        local_table = eccodes.codes_get_long(h, "localTablesVersion")
        return name or f"var discipline={code[0]} center={centre} local_table={local_table} parmcat={code[1]} parm={code[2]}"
    master = eccodes.codes_get_long(h, "tablesVersion")
    return _WGRIB2_NAMES.get(code) or f"var discipline={code[0]} master_table={master} parmcat={code[1]} parm={code[2]}"


# wgrib2's level wording by GRIB2 code table 4.5 (fixed surface type). "{}" takes the surface's value.
_WGRIB2_LEVELS = {
    1: "surface", 2: "cloud base", 3: "cloud top", 4: "0C isotherm", 6: "max wind", 7: "tropopause",
    8: "top of atmosphere", 10: "entire atmosphere", 100: "{} mb", 101: "mean sea level",
    102: "{} m above mean sea level", 103: "{} m above ground", 104: "{} sigma level", 105: "{} hybrid level",
    106: "{} m below ground", 108: "{} mb above ground", 109: "PV={} (Km^2/kg/s) surface",
    200: "entire atmosphere (considered as a single layer)", 204: "highest tropospheric freezing level",
    211: "boundary layer cloud layer", 212: "low cloud bottom level", 213: "low cloud top level",
    214: "low cloud layer", 215: "cloud ceiling", 220: "planetary boundary layer", 222: "middle cloud bottom level",
    223: "middle cloud top level", 224: "middle cloud layer", 232: "high cloud bottom level",
    233: "high cloud top level", 234: "high cloud layer", 242: "convective cloud bottom level",
    243: "convective cloud top level", 244: "convective cloud layer",
}
#: Layers (first and second surface of one type) read "{top}-{bottom} <unit>", e.g. "0-0.1 m below ground".
_WGRIB2_LAYERS = {100: "mb", 103: "m above ground", 104: "sigma layer", 106: "m below ground", 108: "mb above ground"}
_PRESSURE_TYPES = (100, 108)  # coded in Pa, written in mb
_SIGN_BIT = 2**31


def _idx_level(h: int) -> str:
    first = _surface(h, "First")
    second = _surface(h, "Second")
    if second is not None and first is not None and first[0] == second[0] and first[0] in _WGRIB2_LAYERS:
        return f"{first[1]:g}-{second[1]:g} {_WGRIB2_LAYERS[first[0]]}"
    if first is None:
        return "reserved"
    template = _WGRIB2_LEVELS.get(first[0], f"level type {first[0]} value {{}}")
    return template.format(f"{first[1]:g}")


def _surface(h: int, which: str) -> tuple[int, float] | None:
    """(type, value) of the first/second fixed surface, value in the unit wgrib2 prints; None if missing."""
    kind = eccodes.codes_get_long(h, f"typeOf{which}FixedSurface")
    if kind == 255:
        return None
    if eccodes.codes_is_missing(h, f"scaledValueOf{which}FixedSurface"):
        return kind, float("nan")
    scaled = eccodes.codes_get_long(h, f"scaledValueOf{which}FixedSurface")
    if scaled >= _SIGN_BIT:  # NCEP codes negative values (PV = -2e-6) sign-and-magnitude; ecCodes reads unsigned
        scaled = -(scaled - _SIGN_BIT)
    value = scaled * 10.0 ** -eccodes.codes_get_long(h, f"scaleFactorOf{which}FixedSurface")
    return kind, value / 100.0 if kind in _PRESSURE_TYPES else value


_STEP_UNITS = {0: "min", 1: "hour", 2: "day", 13: "sec"}  # GRIB2 code table 4.4
_STATISTICS = {0: "ave", 1: "acc", 2: "max", 3: "min"}  # GRIB2 code table 4.10
_STATISTICAL_TEMPLATES = (8, 11, 12)  # product definition templates with a time range


def _idx_forecast(h: int) -> str:
    """wgrib2's forecast wording: `anl`, `120 hour fcst`, `114-120 hour max fcst`, `0-1 day acc fcst`."""
    unit = _STEP_UNITS.get(eccodes.codes_get_long(h, "stepUnits"), "hour")
    start, end = eccodes.codes_get_long(h, "startStep"), eccodes.codes_get_long(h, "endStep")
    if eccodes.codes_get_long(h, "productDefinitionTemplateNumber") in _STATISTICAL_TEMPLATES:
        stat = _STATISTICS.get(eccodes.codes_get_long(h, "typeOfStatisticalProcessing"), "stat")
        if unit == "hour" and start % 24 == 0 and end % 24 == 0:  # wgrib2 writes whole-day ranges in days
            unit, start, end = "day", start // 24, end // 24
        return f"{start}-{end} {unit} {stat} fcst"
    return "anl" if end == 0 else f"{end} {unit} fcst"


_IDX_NUMBER = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class IdxLine:
    """One inventory line: message `number` ("191", or "175.2" for the 2nd field of a multi-field message), first
    byte `start`, last byte `end` (inclusive; None for the last message: up to the end of the file) and the `text`
    searched (the line from its `:d=` on)."""

    number: str
    start: int
    end: int | None
    text: str


def read_idx(idx_path: str | PathLike) -> list[IdxLine]:
    """Parse a wgrib2-format `.idx`; a message ends one byte before the next message starts (as Herbie reads it)."""
    idx_path = Path(idx_path)
    try:
        raw = idx_path.read_text().splitlines()
    except OSError as e:
        raise InputError(idx_path, "file", "a readable wgrib2 .idx inventory", e.strerror or str(e)) from e
    parsed = []
    for i, line in enumerate(raw, 1):
        parts = line.split(":", 2)
        if len(parts) < 3 or not _IDX_NUMBER.fullmatch(parts[0]) or not parts[1].isdigit():
            raise InputError(idx_path, f"line {i}", "N:BYTE_OFFSET:d=YYYYMMDDHH:VAR:LEVEL:FORECAST:", repr(line[:80]))
        parsed.append((parts[0], int(parts[1]), ":" + parts[2]))
    starts = sorted({p[1] for p in parsed})
    if [p[1] for p in parsed] != sorted(p[1] for p in parsed):
        raise InputError(idx_path, "byte offsets", "non-decreasing from line to line", "otherwise")
    # Fields of one multi-field message ("175.1", "175.2") share its offset; a message ends where the next begins.
    next_start = dict(zip(starts, starts[1:]))
    return [IdxLine(n, s, next_start[s] - 1 if s in next_start else None, t) for n, s, t in parsed]


def idx_byte_ranges(idx_path: str | PathLike, search: str = T2M_SEARCH) -> list[tuple[int, int | None]]:
    """(start, end) byte ranges (end inclusive, None = to end of file) of the messages whose line contains `search`."""
    return [(line.start, line.end) for line in read_idx(idx_path) if search in line.text]


def read_byte_range(grib_path: str | PathLike, start: int, end: int | None) -> bytes:
    """Bytes `start..end` (inclusive; None = to the end) of `grib_path`: one GRIB message located by an `.idx`.

    Raises `InputError` if they do not begin with `GRIB` (an `.idx` stale for this file), so a wrong range can
    never be decoded as some other message."""
    try:
        with open(grib_path, "rb") as f:
            f.seek(start)
            data = f.read(-1 if end is None else end - start + 1)
    except OSError as e:
        raise InputError(grib_path, "file", "a readable GRIB file", e.strerror or str(e)) from e
    if data[:4] != b"GRIB":
        raise InputError(grib_path, f"bytes {start}-{'' if end is None else end}", "a GRIB message (is the .idx stale?)", repr(data[:4]))
    return data
