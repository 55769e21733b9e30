"""Every grid type and scanning mode NOAA and ECMWF publish 2 m temperature on, read by `tm_weather.grib` and
compared point by point with ecCodes' own geo-iterator (tests/grib_samples.py writes the messages with ecCodes
from its samples and says where ecCodes' iterator is adjusted to WMO's reading); point extraction and regridding
onto a tile on each grid type; a grid section that contradicts itself is refused."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from affine import Affine

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip
from grib_samples import (
    GRIDS, SCANNING_MODES, bilinear_from_triplets, geo_iterator, layout_message, recoded, reference_points,
)
from tm_weather import grib
from tm_weather.errors import InputError
from tm_weather.series import extract_points, regrid_to_tile

REGULAR = list(GRIDS)
REDUCED = ["reduced_gg", "octahedral_gg"]


def _on_field(da, lat, lon):
    """Indices (iy, ix) of the grid points of `da` `(time, y, x)` at lat/lon `(n,)`; asserts each lies on one."""
    crs = pyproj.CRS.from_user_input(da.rio.crs)
    gx, gy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x, y = da.x.values, da.y.values
    if crs.is_geographic:
        gx = x.min() + np.mod(np.asarray(gx) - x.min(), 360.0)
    ix = np.abs(x[None, :] - np.asarray(gx)[:, None]).argmin(axis=1)
    iy = np.abs(y[None, :] - np.asarray(gy)[:, None]).argmin(axis=1)
    step = min(np.abs(np.diff(x)).min(), np.abs(np.diff(y)).min())
    assert np.abs(x[ix] - gx).max() < 1e-3 * step and np.abs(y[iy] - gy).max() < 1e-3 * step
    return iy, ix


@pytest.mark.parametrize("mode", SCANNING_MODES, ids=lambda m: f"mode{m:#04x}")
@pytest.mark.parametrize("grid", REGULAR)
def test_every_point_equals_the_geo_iterator(grid, mode):
    message = layout_message(grid, mode)
    lat, lon, value = reference_points(message, grid, mode)
    da = grib.read_t2m(message)
    ny, nx = GRIDS[grid][2]
    assert da.shape == (1, ny, nx)
    iy, ix = _on_field(da, lat, lon)
    assert len(set(zip(iy, ix))) == ny * nx  # every grid point once
    np.testing.assert_allclose(da.values[0, iy, ix], value, atol=1e-4, rtol=0)
    if "latitude" in da.coords:  # projected and rotated grids: the 2-D coordinates are the points' own
        np.testing.assert_allclose(da.latitude.values[iy, ix], lat, atol=1e-4)  # first points coded to 1e-6 deg
        np.testing.assert_allclose((da.longitude.values[iy, ix] - lon + 180) % 360 - 180, 0, atol=1e-4)


@pytest.mark.parametrize("grid", ["lambert", "polar_stereographic", "mercator"])
def test_projected_alternative_rows_as_ecCodes_own_iterator_reads_them(grid):
    """On projected grids ecCodes' iterator applies every flag to the values: in mode 0x50 (NBM's) the values
    come straight from it, with no adjustment, and the read field holds them."""
    message = layout_message(grid, 0x50)
    h = eccodes.codes_new_from_message(message)
    lat, lon, value = geo_iterator(h).T
    eccodes.codes_release(h)
    da = grib.read_t2m(message)
    iy, ix = _on_field(da, lat, lon)
    np.testing.assert_allclose(da.values[0, iy, ix], value, atol=1e-4, rtol=0)
    # Every second row really is stored reversed: the stored values differ from the field read row by row.
    stored = eccodes.codes_get_values(eccodes.codes_new_from_message(message)).reshape(da.shape[1:])
    assert not np.allclose(stored[1], da.values[0, 1], atol=1e-3)
    np.testing.assert_allclose(stored[1, ::-1], da.values[0, 1], atol=1e-4)


@pytest.mark.parametrize("grid", REDUCED)
def test_reduced_gaussian_rows_interpolated_from_the_geo_iterator(grid):
    """A reduced Gaussian grid is expanded along each row onto its densest row's longitudes: each value equals
    ecCodes' triplets of that row linearly interpolated (periodic) at the node; on the densest rows every
    stored value is kept."""
    message = layout_message(grid, 0)
    lat, lon, value = reference_points(message, grid, 0)
    da = grib.read_t2m(message)
    rows = np.unique(lat)[::-1]  # north to south, as stored
    assert da.sizes["y"] == rows.size and np.allclose(da.y.values, rows)
    nodes = np.mod(da.x.values, 360.0)
    densest = 0
    for j, row_lat in enumerate(rows):
        on_row = lat == row_lat
        expected = np.interp(nodes, lon[on_row], value[on_row], period=360.0)
        np.testing.assert_allclose(da.values[0, j], expected, atol=1e-4, rtol=0)
        if on_row.sum() == da.sizes["x"]:
            densest += 1
            np.testing.assert_allclose(np.sort(da.values[0, j]), np.sort(value[on_row]).astype(np.float32), atol=1e-4)
    assert densest >= 2


@pytest.mark.parametrize("grid", REDUCED)
@pytest.mark.parametrize("mode", [m for m in SCANNING_MODES if m])
def test_reduced_gaussian_other_scanning_modes_are_refused(grid, mode):
    with pytest.raises(InputError, match="scanning mode"):
        grib.read_t2m(recoded(layout_message(grid, 0), scanningMode=mode))


# --------------------------------------------------------------------------- extraction and regridding per grid


#: A site inside each small grid (lat, lon).
SITES = {
    "regular_ll": (51.5, -0.12), "regular_gg": (48.85, 2.35), "rotated_ll": (50.29, 8.9),
    "lambert": (35.9, -99.3), "polar_stereographic": (61.2, -149.9), "mercator": (18.9, -158.5),
}


@pytest.mark.parametrize("mode", [0x00, 0x40, 0x50, 0xF0], ids=lambda m: f"mode{m:#04x}")
@pytest.mark.parametrize("grid", REGULAR)
def test_point_extraction_and_regridding_match_triplets(grid, mode):
    message = layout_message(grid, mode)
    lat, lon, value = reference_points(message, grid, mode)
    da = grib.read_t2m(message)
    site_lat, site_lon = SITES[grid]
    expected, corners = bilinear_from_triplets(da.rio.crs, lat, lon, value, site_lat, site_lon)
    got = float(extract_points(da, [site_lat], [site_lon], ["site"]).values[0, 0])
    assert corners.min() - 1e-4 <= got <= corners.max() + 1e-4
    assert got == pytest.approx(expected, abs=1e-4)
    # A 3 x 3 tile of 1 km pixels in the site's UTM zone, centred on the site: its centre pixel is the site.
    utm = pyproj.CRS.from_dict({"proj": "utm", "zone": int((site_lon + 180) // 6) + 1, "ellps": "WGS84"})
    cx, cy = pyproj.Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform(site_lon, site_lat)
    tile = regrid_to_tile(da, utm, Affine(1000.0, 0, cx - 1500.0, 0, -1000.0, cy + 1500.0), (3, 3))
    assert float(tile.values[0, 1, 1]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("grid", REDUCED)
def test_point_extraction_on_reduced_gaussian_rows_then_between_rows(grid):
    """At a site: each bracketing row interpolated from ecCodes' triplets onto the expanded longitudes, then
    bilinear between the nodes around the site (the scheme `_reduced_gg_grid` documents)."""
    message = layout_message(grid, 0)
    lat, lon, value = reference_points(message, grid, 0)
    da = grib.read_t2m(message)
    site_lat, site_lon = 48.85, 2.35
    nodes = np.mod(da.x.values, 360.0)
    rows = np.unique(lat)
    j = np.searchsorted(rows, site_lat)
    south, north = rows[j - 1], rows[j]
    k = np.searchsorted(np.sort(nodes), site_lon % 360.0)
    x0, x1 = np.sort(nodes)[k - 1], np.sort(nodes)[k]
    at = {r: np.interp([x0, x1], lon[lat == r], value[lat == r], period=360.0) for r in (south, north)}
    wx, wy = (site_lon % 360.0 - x0) / (x1 - x0), (site_lat - south) / (north - south)
    expected = (1 - wy) * ((1 - wx) * at[south][0] + wx * at[south][1]) + wy * ((1 - wx) * at[north][0] + wx * at[north][1])
    got = float(extract_points(da, [site_lat], [site_lon], ["paris"]).values[0, 0])
    assert got == pytest.approx(expected, abs=1e-4)
    utm = pyproj.CRS.from_epsg(32631)
    cx, cy = pyproj.Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform(site_lon, site_lat)
    tile = regrid_to_tile(da, utm, Affine(1000.0, 0, cx - 1500.0, 0, -1000.0, cy + 1500.0), (3, 3))
    assert float(tile.values[0, 1, 1]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("sample", ["sh_sfc_grib2", "reduced_ll_sfc_grib2"])
def test_a_grid_this_layer_cannot_read_is_input_error(sample):
    """Spectral coefficients and reduced lat/lon grids (no 2 m temperature product NOAA or ECMWF publishes) are
    refused by name, never read as something else."""
    h = eccodes.codes_grib_new_from_samples(sample)
    try:
        for key, value in {"discipline": 0, "parameterCategory": 0, "parameterNumber": 0, "typeOfFirstFixedSurface": 103,
                           "scaleFactorOfFirstFixedSurface": 0, "scaledValueOfFirstFixedSurface": 2}.items():
            eccodes.codes_set(h, key, value)
        message = eccodes.codes_get_message(h)
    finally:
        eccodes.codes_release(h)
    with pytest.raises(InputError, match="gridType") as e:
        grib.read_t2m(message)
    assert "regular_ll or regular_gg" in e.value.expected


# ------------------------------------------------------------------ a grid section that contradicts itself (issue 18)

GFS = "gfs/gfs.t12z.pgrbf120.2p5deg.grib2"
GFS_T2M_OFFSET, GFS_T2M_LENGTH = 2457396, 13101  # the TMP 2 m message of the GFS fixture (ecCodes offset, length)
LAST_LONGITUDE_BYTE = 97  # the 2nd byte of the message's longitudeOfLastGridPoint (ecCodes offset 96, 4 bytes)


def _flip_last_longitude(message: bytes) -> bytes:
    """One byte of the grid section flipped: the last longitude 357.5 E becomes 363.857 E on the 144-point 2.5 deg
    grid (0x4f -> 0xb0), which no longer agrees with the first longitude, the increment and the count."""
    flipped = bytearray(message)
    flipped[LAST_LONGITUDE_BYTE] ^= 0xFF
    return bytes(flipped)


def test_flipped_grid_byte_is_input_error(data_dir):
    message = (data_dir / GFS).read_bytes()[GFS_T2M_OFFSET : GFS_T2M_OFFSET + GFS_T2M_LENGTH]
    h = eccodes.codes_new_from_message(_flip_last_longitude(message))
    assert eccodes.codes_get(h, "longitudeOfLastGridPointInDegrees") == pytest.approx(363.857, abs=1e-3)
    eccodes.codes_release(h)
    with pytest.raises(InputError, match="longitudes: first to last point") as e:
        grib.read_t2m(_flip_last_longitude(message), where="gfs.grib2")
    assert e.value.where == "gfs.grib2" and "143 x 2.5" in e.value.expected


def test_ingest_of_a_flipped_grid_byte_exits_2_naming_the_file_and_keeps_the_store(data_dir, tmp_path, capsys):
    """Issue 18, item 3: the same file ingested again after one byte of its grid section flipped is refused (exit
    2, the file named) and the stored values stay as they were, byte for byte."""
    from test_store import tree_hash
    from tm_weather.cli import main
    from tm_weather.errors import EXIT_INPUT

    path = tmp_path / "gfs_t2m.grib2"
    message = (data_dir / GFS).read_bytes()[GFS_T2M_OFFSET : GFS_T2M_OFFSET + GFS_T2M_LENGTH]
    path.write_bytes(message)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "store: store.zarr\ncache_dir: cache\n"
        f"sources:\n  gfs_file:\n    kind: grib_file\n    paths: [{path}]\n"
        "sites:\n  - {name: la_crosse, lat: 43.88, lon: -91.25}\n  - {name: london, lat: 51.5, lon: -0.12}\n"
    )
    assert main(["ingest", "--catalog", str(catalog), "--quiet"]) == 0
    before = tree_hash(tmp_path / "store.zarr")
    path.write_bytes(_flip_last_longitude(message))
    capsys.readouterr()
    assert main(["ingest", "--catalog", str(catalog), "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert str(path) in err and "longitudes" in err
    assert tree_hash(tmp_path / "store.zarr") == before


@pytest.mark.parametrize("sample", ["reduced_gg_sfc_grib1", "regular_gg_sfc_grib1"])
def test_ecmwf_grib1_gaussian_grids_equal_the_geo_iterator(sample):
    """ERA5's and the IFS's GRIB1 Gaussian grids (ecCodes' N32 samples as 2 m temperature, paramId 167): every
    value at its ecCodes position (regular), or each row's triplets interpolated along it (reduced)."""
    h = eccodes.codes_grib_new_from_samples(sample)
    try:
        eccodes.codes_set(h, "paramId", 167)
        lat, lon, _ = geo_iterator(h).T
        eccodes.codes_set_values(h, 280.0 - 0.5 * lat + 0.3 * np.sin(np.radians(3 * lon)))
        message = eccodes.codes_get_message(h)
        lat, lon, value = geo_iterator(h).T
    finally:
        eccodes.codes_release(h)
    da = grib.read_t2m(message).isel(time=0)
    nodes = np.mod(da.x.values, 360.0)
    for j, row_lat in enumerate(np.unique(lat)[::-1]):
        on_row = lat == row_lat
        assert da.y.values[j] == pytest.approx(row_lat, abs=1e-9)
        np.testing.assert_allclose(da.values[j], np.interp(nodes, lon[on_row], value[on_row], period=360.0), atol=1e-4, rtol=0)
