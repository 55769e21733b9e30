"""Small real-format GRIB2 files on the URMA/RTMA 2.5 km CONUS Lambert conformal grid, written with ecCodes.

The grid is the one NCEP's RTMA and URMA write their `2dvaranl_ndfd.grb2_wexp` analyses on (the files Herbie
fetches): 2345 x 1597 points, first point 19.228976 N 233.723448 E, LoV 265 E, Latin1 = Latin2 = LaD = 25 N,
Dx = Dy = 2539.703 m, sphere of radius 6371200 m, scanning mode 64 (west to east, south to north). Source: the
operational RTMA/URMA wgrib2 grid spec `lambert:265.0:25.0:25.0 233.723448:2345:2539.703 19.228976:1597:2539.703`
(`grid_specs_WG2wexp`, NOAA-EMC RTMA/URMA scripts; the same numbers as `conus_ndfd_wexp` in NOAA-EMC GSI's RTMA
utilities) and the NDFD spatial reference page https://www.weather.gov/mdl/ndfd_srs (sphere 6371.2 km, Dx, scan
mode 64). NCEP grid 184 (2145 x 1377, first point 20.191999 N 238.445999 E, same projection) is the older NDFD cut.

To stay small a file holds every `step`-th point of that grid in each direction (step 4: 587 x 400 points), so its
four corners are the real grid's corners.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip

#: The URMA/RTMA 2.5 km CONUS grid ("wexp"), as GRIB2 grid definition template 3.30 keys.
NX, NY, DX = 2345, 1597, 2539.703
LAMBERT_KEYS = {
    "shapeOfTheEarth": 1,
    "scaleFactorOfRadiusOfSphericalEarth": 0,
    "scaledValueOfRadiusOfSphericalEarth": 6371200,
    "latitudeOfFirstGridPointInDegrees": 19.228976,
    "longitudeOfFirstGridPointInDegrees": 233.723448,
    "LaDInDegrees": 25.0,
    "LoVInDegrees": 265.0,
    "Latin1InDegrees": 25.0,
    "Latin2InDegrees": 25.0,
    "iScansNegatively": 0,
    "jScansPositively": 1,
    "projectionCentreFlag": 0,
    "latitudeOfSouthernPoleInDegrees": -90.0,
    "longitudeOfSouthernPoleInDegrees": 0.0,
}

#: The messages written, in file order, as (discipline, category, number, level type, level) of GRIB2 code tables
#: 0.0 / 4.1 / 4.2 / 4.5: surface pressure, then 2 m temperature and 2 m dew point, as in a real analysis file.
_MESSAGES = {"PRES": (0, 3, 0, 1, 0), "TMP": (0, 0, 0, 103, 2), "DPT": (0, 0, 6, 103, 2)}


def t2m_of(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The 2 m temperature written (K): smooth, colder to the north and the west; `lon` in degrees east (any range)."""
    return 303.15 - 0.7 * (lat - 19.0) + 0.05 * (np.mod(lon, 360.0) - 233.0)


def write_lambert_analysis(path: Path, valid_time: str, step: int = 4, scanning_mode: int = 64, lead_hours: int = 0) -> Path:
    """Write an analysis valid at `valid_time` (UTC) on every `step`-th point of the URMA/RTMA grid to `path`:
    PRES surface, TMP 2 m (= `t2m_of` at each point), DPT 2 m. `step` must divide 2344 and 1596 (1, 2 or 4).
    `scanning_mode` 80 stores every second row east to west (alternative row scanning), as NBM's CONUS files
    on the same grid do; `lead_hours` > 0 writes a forecast of that lead, initialised `lead_hours` earlier."""
    if (NX - 1) % step or (NY - 1) % step:
        raise ValueError(f"step {step} does not divide the grid's {NX - 1} x {NY - 1} intervals")
    if scanning_mode not in (64, 80):  # both put the first point at the south-west corner
        raise ValueError(f"scanning mode {scanning_mode}: 64 or 80")
    time = pd.Timestamp(valid_time) - pd.Timedelta(hours=lead_hours)
    nx, ny = (NX - 1) // step + 1, (NY - 1) // step + 1
    with open(path, "wb") as out:
        for name, (discipline, category, number, level_type, level) in _MESSAGES.items():
            h = eccodes.codes_grib_new_from_samples("GRIB2")
            try:
                eccodes.codes_set(h, "gridType", "lambert")
                grid = {**LAMBERT_KEYS, "Nx": nx, "Ny": ny, "DxInMetres": DX * step, "DyInMetres": DX * step,
                        "scanningMode": scanning_mode}
                for key, value in grid.items():
                    eccodes.codes_set(h, key, value)
                product = {
                    "centre": 7,  # NCEP
                    "discipline": discipline,
                    "parameterCategory": category,
                    "parameterNumber": number,
                    "typeOfFirstFixedSurface": level_type,
                    "scaleFactorOfFirstFixedSurface": 0,
                    "scaledValueOfFirstFixedSurface": level,
                    "typeOfProcessedData": 1 if lead_hours else 0,  # forecast or analysis
                    "significanceOfReferenceTime": 1 if lead_hours else 0,
                    "typeOfGeneratingProcess": 2 if lead_hours else 0,
                    "dataDate": int(f"{time:%Y%m%d}"),
                    "dataTime": int(f"{time:%H%M}"),
                    "forecastTime": lead_hours,
                    "bitsPerValue": 24,  # the stored indices below, exactly
                }
                for key, value in product.items():
                    eccodes.codes_set(h, key, value)
                # Which stored value lands where: ecCodes' geo-iterator of the stored indices (it reads the
                # alternative rows of this Lambert grid itself; modes 64 and 80 start at the south-west corner).
                eccodes.codes_set_values(h, np.arange(nx * ny, dtype=float))
                lat, lon, index = geo_iterator(h).T
                t2m = t2m_of(lat, lon)
                values = {"PRES": 101325.0 - 10.0 * (lat - 19.0), "TMP": t2m, "DPT": t2m - 5.0}[name]
                eccodes.codes_set(h, "bitsPerValue", 16)
                eccodes.codes_set_values(h, _scatter(index, values))
                out.write(eccodes.codes_get_message(h))
            finally:
                eccodes.codes_release(h)
    return path


# ------------------------------------------------------------------------------------------------------------
# Small messages of every grid type and scanning mode NOAA and ECMWF publish 2 m temperature on

#: The sixteen GRIB scanning modes: flag bits iScansNegatively (0x80), jScansPositively (0x40),
#: jPointsAreConsecutive (0x20), alternativeRowScanning (0x10), in every combination.
SCANNING_MODES = tuple(range(0, 256, 16))

_T2M_GRIB2 = {
    "discipline": 0, "parameterCategory": 0, "parameterNumber": 0, "typeOfFirstFixedSurface": 103,
    "scaleFactorOfFirstFixedSurface": 0, "scaledValueOfFirstFixedSurface": 2, "dataDate": 20240110, "dataTime": 1200,
    "forecastTime": 0, "bitsPerValue": 24,
}

#: Each grid as (ecCodes sample, keys, (ny, nx), (lat, lon) of the south-west corner or None where the keys place
#: it, (dx, dy) in metres for projected grids): a few points of the real products' grids.
#:  - NBM / URMA CONUS: Lambert conformal, LoV 265 E, Latin 25 N, sphere 6371200 m (see LAMBERT_KEYS), 50 km steps;
#:  - URMA/NBM Alaska: polar stereographic, LoV 210 E, LaD 60 N, 100 km steps;
#:  - NBM Hawaii: Mercator, LaD 20 N, 50 km steps; rotated_ll: a COSMO-like rotated pole (40 S, 10 E);
#:  - regular_ll 1 deg over the UK; regular_gg and reduced_gg: ecCodes' N32 samples (reduced: classic N32 and
#:    the octahedral O32 of ERA5's/IFS's native grids, cut small).
GRIDS = {
    "regular_ll": ("regular_ll_sfc_grib2", {"Ni": 6, "Nj": 5, "iDirectionIncrementInDegrees": 1.0,
                                            "jDirectionIncrementInDegrees": 1.0}, (5, 6), (50.0, -4.0), None),
    "regular_gg": ("regular_gg_sfc_grib2", {}, (64, 128), None, None),
    "rotated_ll": ("rotated_ll_sfc_grib2", {"Ni": 6, "Nj": 5, "iDirectionIncrementInDegrees": 0.5,
                                            "jDirectionIncrementInDegrees": 0.5, "latitudeOfSouthernPoleInDegrees": -40.0,
                                            "longitudeOfSouthernPoleInDegrees": 10.0, "angleOfRotationInDegrees": 0.0},
                   (5, 6), (-1.0, -2.0), None),
    "lambert": ("GRIB2", {"gridType": "lambert", **LAMBERT_KEYS, "Nx": 6, "Ny": 5}, (5, 6), (35.0, -100.0), (50000.0, 50000.0)),
    "polar_stereographic": ("polar_stereographic_sfc_grib2", {
        "shapeOfTheEarth": 1, "scaleFactorOfRadiusOfSphericalEarth": 0, "scaledValueOfRadiusOfSphericalEarth": 6371200,
        "Nx": 6, "Ny": 5, "LaDInDegrees": 60.0, "orientationOfTheGridInDegrees": 210.0}, (5, 6), (58.0, -150.0), (100000.0, 100000.0)),
    "mercator": ("GRIB2", {"gridDefinitionTemplateNumber": 10, "shapeOfTheEarth": 1, "scaleFactorOfRadiusOfSphericalEarth": 0,
                           "scaledValueOfRadiusOfSphericalEarth": 6371200, "Ni": 6, "Nj": 5, "LaDInDegrees": 20.0},
                 (5, 6), (18.0, -160.0), (50000.0, 50000.0)),
}


def octahedral_pl(n: int) -> np.ndarray:
    """Points per row of the octahedral reduced Gaussian grid O`n` (IFS since 2016, ERA5's native grid):
    20, 24, ... 4 n + 16 from the pole to the equator, mirrored."""
    half = 20 + 4 * np.arange(n)
    return np.concatenate([half, half[::-1]])


def t2m_at(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The 2 m temperature written at each point (K): every point's value different, smooth in lat/lon."""
    return 280.0 - 0.5 * lat + 0.01 * np.mod(lon, 360.0) + 0.3 * np.sin(np.radians(3 * lon))


def _set(h: int, keys: dict) -> None:
    for key, value in keys.items():
        if isinstance(value, np.ndarray):
            eccodes.codes_set_array(h, key, value)
        else:
            eccodes.codes_set(h, key, value)


def geo_iterator(h: int) -> np.ndarray:
    """ecCodes' own geo-iterator over a message, `codes_grib_get_data`: (lat, lon, value) of every point,
    `(points, 3)`. Called through gribapi's C binding (`grib_get_data`) into arrays: the Python wrapper builds
    one object per point (seconds on a 587 x 400 grid)."""
    from gribapi.bindings import ffi, lib
    from gribapi.gribapi import GRIB_CHECK, get_handle

    n = eccodes.codes_get(h, "numberOfDataPoints")
    out = [np.empty(n) for _ in range(3)]
    GRIB_CHECK(lib.grib_get_data(get_handle(h), *(ffi.cast("double *", ffi.from_buffer(a)) for a in out)))
    return np.stack(out, axis=1)


def layout_message(grid: str, mode: int) -> bytes:
    """A GRIB2 T2M analysis on `grid` (a key of GRIDS, or "reduced_gg" / "octahedral_gg") stored in scanning
    `mode`, each point holding `t2m_at` its own latitude and longitude (as `reference_points` places it)."""
    h = _layout_handle(grid, mode)
    try:
        n = eccodes.codes_get(h, "numberOfDataPoints")
        eccodes.codes_set_values(h, np.arange(n, dtype=float))  # which stored value lands where: see reference_points
        lat, lon, index = reference_points(eccodes.codes_get_message(h), grid, mode)
        eccodes.codes_set_values(h, _scatter(index, t2m_at(lat, lon)))
        return eccodes.codes_get_message(h)
    finally:
        eccodes.codes_release(h)


def _scatter(index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values in stored order from `values` at the points whose stored indices (written as values, exactly with
    24 bits) the geo-iterator returned in `index`."""
    out = np.empty(index.size)
    out[np.rint(index).astype(int)] = values
    return out


def _layout_handle(grid: str, mode: int) -> int:
    if grid in ("reduced_gg", "octahedral_gg"):
        h = eccodes.codes_grib_new_from_samples("reduced_gg_pl_32_grib2")
        if grid == "octahedral_gg":
            pl = octahedral_pl(32)
            _set(h, {"pl": pl, "numberOfDataPoints": int(pl.sum()), "longitudeOfLastGridPointInDegrees": 360.0 - 360.0 / pl.max()})
        _set(h, {"scanningMode": mode})
    else:
        sample, keys, (ny, nx), corner, steps = GRIDS[grid]
        h = eccodes.codes_grib_new_from_samples(sample)
        _set(h, keys)
        _set(h, _first_last(h, grid, mode, ny, nx, corner, steps))
    _set(h, _T2M_GRIB2)
    return h


def reference_points(message: bytes, grid: str, mode: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each value of `message` lies: (lat, lon, value) `(points,)` each, from ecCodes' geo-iterator.

    Two readings of ecCodes 2.50 are adjusted, both to WMO code table 3.4 ("the first grid point" is the first
    point scanned; "adjacent rows scan in opposite directions"):
    - its projected iterators (Lambert, polar stereographic, Mercator) reorder the values for every flag but lay
      the positions out from the first point eastwards and northwards whatever the flags: the positions are
      taken from the iterator of the same grid described from its south-west corner (mode 0x40), whose order is
      the same (west to east, south to north);
    - its lat/lon and Gaussian iterators ignore `alternativeRowScanning` (and the Gaussian one also
      `jPointsAreConsecutive`): there the stored values are transposed and every second row (counted from the
      first row scanned) reversed as ecCodes' projected iterators do (the projected grids' tests check that
      rule against them)."""
    h = eccodes.codes_new_from_message(message)
    try:
        points = geo_iterator(h)
    finally:
        eccodes.codes_release(h)
    lat, lon, value = points.T
    if grid in ("lambert", "polar_stereographic", "mercator") and mode != 0x40:
        twin = _layout_handle(grid, 0x40)
        try:
            eccodes.codes_set_values(twin, np.zeros(value.size))
            lat, lon, _ = geo_iterator(twin).T
        finally:
            eccodes.codes_release(twin)
    elif grid not in ("lambert", "polar_stereographic", "mercator") and (mode & 0x10 or (mode & 0x20 and grid == "regular_gg")):
        ny, nx = GRIDS[grid][2]
        index = np.arange(value.size)
        transposed = index.reshape(nx, ny).T
        scan = transposed if mode & 0x20 and grid != "regular_gg" else index.reshape(ny, nx)  # iterator's order
        layout = (transposed if mode & 0x20 else index.reshape(ny, nx)).copy()  # the stored value at each point
        if mode & 0x10:
            layout[1::2] = layout[1::2, ::-1]
        new = np.empty_like(value)
        new[scan.ravel()] = value[layout.ravel()]  # the iterator's values are the stored ones, in stored order
        value = new
    return lat, lon, value


def _first_last(h: int, grid: str, mode: int, ny: int, nx: int, corner, steps) -> dict:
    """The first (and last) grid point keys that put the grid's south-west corner at `corner`, in scanning `mode`."""
    i_negative, j_positive = bool(mode & 0x80), bool(mode & 0x40)
    keys = {"scanningMode": mode, "numberOfDataPoints": ny * nx}
    if steps is None:  # lat/lon grids: degrees
        if corner is None:  # the global Gaussian sample: its own rows and columns
            south, north = sorted(eccodes.codes_get_array(h, "distinctLatitudes")[[0, -1]])
            west, east = 0.0, 360.0 - 360.0 / nx
        else:
            di, dj = eccodes.codes_get(h, "iDirectionIncrementInDegrees"), eccodes.codes_get(h, "jDirectionIncrementInDegrees")
            (south, west), north, east = corner, corner[0] + (ny - 1) * dj, corner[1] + (nx - 1) * di
        lat = (south, north) if j_positive else (north, south)
        lon = (east, west) if i_negative else (west, east)
    else:  # projected: the corners of the scanning, through the message's own projection
        import pyproj

        _set(h, {"latitudeOfFirstGridPointInDegrees": corner[0], "longitudeOfFirstGridPointInDegrees": corner[1] % 360.0})
        crs = pyproj.CRS.from_proj4(eccodes.codes_get_string(h, "projString"))
        to_xy = pyproj.Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
        x0, y0 = to_xy.transform(corner[1], corner[0])
        x1, y1 = x0 + (nx - 1) * steps[0], y0 + (ny - 1) * steps[1]
        (xf, xl), (yf, yl) = ((x1, x0) if i_negative else (x0, x1)), ((y0, y1) if j_positive else (y1, y0))
        (lon_f, lon_l), (lat_f, lat_l) = zip(*[to_xy.transform(x, y, direction="INVERSE") for x, y in ((xf, yf), (xl, yl))])
        lat, lon = (lat_f, lat_l), (lon_f, lon_l)
        d = {"Di": steps[0] * 1000, "Dj": steps[1] * 1000} if grid == "mercator" else {"DxInMetres": steps[0], "DyInMetres": steps[1]}
        keys.update(d)
    keys.update({"latitudeOfFirstGridPointInDegrees": lat[0], "longitudeOfFirstGridPointInDegrees": lon[0] % 360.0})
    if grid not in ("lambert", "polar_stereographic"):
        keys.update({"latitudeOfLastGridPointInDegrees": lat[1], "longitudeOfLastGridPointInDegrees": lon[1] % 360.0})
    return keys


def bilinear_from_triplets(crs, lat, lon, value, site_lat, site_lon):
    """Bilinear interpolation at a site of ecCodes' (lat, lon, value) triplets `(points,)` each, in the coordinates
    of `crs` (the grid's), independently of tm_weather: the triplets are projected, put on their lattice, and the
    four around the site weighted. Returns (value, the four surrounding values `(2, 2)`)."""
    import pyproj

    crs = pyproj.CRS.from_user_input(crs)
    to = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    px, py = (np.asarray(a) for a in to.transform(lon, lat))
    sx, sy = to.transform(site_lon, site_lat)
    if crs.is_geographic:
        px, sx = np.mod(px - sx + 180, 360) - 180 + sx, float(sx)
    snap = 1e-3 if crs.is_geographic else 1.0  # degrees or metres: far below a step, above ecCodes' rounding
    (xs, col), (ys, row) = (np.unique(np.round(a / snap), return_inverse=True) for a in (px, py))
    xs, ys = (np.bincount(i, a) / np.bincount(i) for i, a in ((col, px), (row, py)))  # each column's, row's mean
    table = np.full((ys.size, xs.size), np.nan)
    table[row, col] = value
    i, j = np.searchsorted(xs, sx) - 1, np.searchsorted(ys, sy) - 1
    wx, wy = (sx - xs[i]) / (xs[i + 1] - xs[i]), (sy - ys[j]) / (ys[j + 1] - ys[j])
    corners = table[j : j + 2, i : i + 2]
    return (corners[0, 0] * (1 - wx) * (1 - wy) + corners[0, 1] * wx * (1 - wy) + corners[1, 0] * (1 - wx) * wy
            + corners[1, 1] * wx * wy), corners


def recoded(message: bytes, **keys) -> bytes:
    """`message` with ecCodes keys set (e.g. `scanningMode=64`, `forecastTime=3`), values unchanged."""
    h = eccodes.codes_new_from_message(message)
    try:
        for key, value in keys.items():
            eccodes.codes_set(h, key, value)
        return eccodes.codes_get_message(h)
    finally:
        eccodes.codes_release(h)


def assert_sites_within_four_values_and_bilinear(da, h: int, sites: dict[str, tuple[float, float]]) -> None:
    """Each site's value extracted from `da` (tm-weather's reading of the message `h`) lies within its four
    surrounding grid values and equals a bilinear interpolation of ecCodes' own lat/lon/value triplets of `h`."""
    from tm_weather.series import extract_points

    lat, lon, value = geo_iterator(h).T
    names = list(sites)
    got = extract_points(da, [sites[n][0] for n in names], [sites[n][1] for n in names], names)
    for name, v in zip(names, got.values):
        expected, corners = bilinear_from_triplets(da.rio.crs, lat, lon, value, *sites[name])
        assert corners.min() - 1e-4 <= v <= corners.max() + 1e-4, name
        assert abs(v - expected) <= 1e-4, (name, v, expected)
