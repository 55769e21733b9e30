"""Point extraction, daily aggregation and regridding (tm_weather.series) against brute-force references, on the
real ERA5 fixture and real Sentinel-2 tile grids."""

from __future__ import annotations

import itertools
from pathlib import Path

import eccodes
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer

from tm_weather.errors import InputError
from tm_weather.series import DailyRule, TileGrid, covers, daily, extract_points, regrid_to_tile
from tm_weather.sources.sentinel2 import read_s2l2a

DATA = Path(__file__).parent / "data"
ERA5 = DATA / "era5/era5_t2m_uk_2019-03-01_21.grib"
S2 = DATA / "sentinel2/terramind-examples/S2L2A"
#: URMA's Lambert conformal projection (NCEP 2.5 km CONUS grid), sphere of radius 6371.2 km.
URMA_CRS = CRS.from_proj4("+proj=lcc +lat_1=25 +lat_2=25 +lat_0=25 +lon_0=265 +R=6371200 +units=m +no_defs")


@pytest.fixture(scope="module")
def era5() -> xr.DataArray:
    """The real ERA5 fixture, read straight with ecCodes: t2m `(time, y, x)` = (504, 33, 49), K, descending lat."""
    fields, times = [], []
    with open(ERA5, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            assert eccodes.codes_get(h, "iScansNegatively") == 0 and eccodes.codes_get(h, "jScansPositively") == 0
            ni, nj = eccodes.codes_get(h, "Ni"), eccodes.codes_get(h, "Nj")
            corners = [eccodes.codes_get(h, f"{k}GridPointInDegrees") for k in
                       ("latitudeOfFirst", "longitudeOfFirst", "latitudeOfLast", "longitudeOfLast")]
            fields.append(eccodes.codes_get_values(h).reshape(nj, ni))
            date, hhmm = eccodes.codes_get(h, "validityDate"), eccodes.codes_get(h, "validityTime")
            times.append(np.datetime64(f"{str(date)[:4]}-{str(date)[4:6]}-{str(date)[6:]}T{hhmm // 100:02d}", "ns"))
            eccodes.codes_release(h)
    lat0, lon0, lat1, lon1 = corners
    da = xr.DataArray(
        np.array(fields, dtype=np.float32), dims=("time", "y", "x"), name="t2m", attrs={"units": "K"},
        coords={"time": np.array(times), "y": np.linspace(lat0, lat1, nj), "x": np.linspace(lon0, lon1, ni)},
    )
    return da.rio.write_crs("EPSG:4326")


def _lonlat_field(lat: np.ndarray, lon: np.ndarray, values: np.ndarray) -> xr.DataArray:
    da = xr.DataArray(values.astype(np.float32), dims=("time", "y", "x"), coords={"y": lat, "x": lon}, name="t2m")
    return da.rio.write_crs("EPSG:4326")


def _bracket(c: np.ndarray, p: float) -> tuple[int, int, float]:
    """Scan monotonic `c` for the interval holding `p`: (i0, i1, weight of i1)."""
    for i in range(c.size - 1):
        if min(c[i], c[i + 1]) <= p <= max(c[i], c[i + 1]):
            return i, i + 1, (p - c[i]) / (c[i + 1] - c[i])
    raise AssertionError(f"{p} outside")


def _bilinear(v: np.ndarray, j0: int, j1: int, wy: float, i0: int, i1: int, wx: float) -> float:
    return (1 - wy) * ((1 - wx) * v[j0, i0] + wx * v[j0, i1]) + wy * ((1 - wx) * v[j1, i0] + wx * v[j1, i1])


def _reference(values: np.ndarray, y: np.ndarray, x: np.ndarray, py, px, method: str) -> np.ndarray:
    """Per point, per leading index: a straightforward loop. `values` `(t, ny, nx)` -> `(t, n)`."""
    out = np.empty((values.shape[0], len(px)))
    for t, k in itertools.product(range(values.shape[0]), range(len(px))):
        if method == "nearest":
            out[t, k] = values[t, np.argmin(np.abs(y - py[k])), np.argmin(np.abs(x - px[k]))]
        else:
            out[t, k] = _bilinear(values[t], *_bracket(y, py[k]), *_bracket(x, px[k]))
    return out


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_extract_points_on_real_era5_matches_loop(era5, method):
    field = era5.isel(time=slice(0, 30)).copy()
    field[:, 10, 20] = np.nan  # a missing cell: every site touching it must be NaN
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(50.05, 57.95, 12), rng.uniform(-9.95, 1.95, 12)
    lat[0], lon[0] = field.y[10].item() - 0.15, field.x[20].item() + 0.15  # NaN corner, not nearest
    lon_0_360 = np.mod(lon, 360.0)  # the same sites with 0..360 longitudes
    names = [f"s{i}" for i in range(12)]
    out = extract_points(field, lat, lon_0_360, names, method=method)
    assert out.dims == ("time", "site") and out.dtype == np.float32
    assert list(out.site.values) == names and np.allclose(out.longitude, lon_0_360)
    ref = _reference(field.values.astype(np.float64), field.y.values, field.x.values, lat, lon, method)
    np.testing.assert_allclose(out.values, ref, rtol=0, atol=1e-4)
    assert np.isnan(out.values[:, 0]).all() == (method == "bilinear")
    assert np.isfinite(out.values[:, 1:]).all()


def test_extract_points_wraps_the_seam_of_a_global_0_360_grid():
    lat, lon = np.arange(90.0, -90.1, -2.5), np.arange(0.0, 360.0, 2.5)  # GFS 2.5 deg: 73 x 144
    values = np.random.default_rng(1).uniform(250, 300, (2, lat.size, lon.size))
    field = _lonlat_field(lat, lon, values)
    site_lat, site_lon = np.array([51.3, -0.9, 10.0]), np.array([-0.7, 359.1, 1.2])
    out = extract_points(field, site_lat, site_lon, ["a", "b", "c"])
    ref = np.empty((2, 3))
    for t, k in itertools.product(range(2), range(3)):
        lon360 = site_lon[k] % 360.0
        i0 = int(lon360 // 2.5)
        i1, wx = (i0 + 1) % lon.size, (lon360 - lon[i0]) / 2.5  # the next column, across the seam
        j0, j1, wy = _bracket(lat, site_lat[k])
        ref[t, k] = _bilinear(values[t].astype(np.float32).astype(np.float64), j0, j1, wy, i0, i1, wx)
    np.testing.assert_allclose(out.values, ref, rtol=0, atol=1e-4)


def _urma_like_field(values: np.ndarray, lat0: float = 40.0, lon0: float = -95.0) -> xr.DataArray:
    """A Lambert conformal 2.5 km grid from (lat0, lon0) north-east, ascending y, `values` `(t, 20, 30)`, with the
    contract's 2-D latitude and longitude coordinates."""
    x0, y0 = Transformer.from_crs(4326, URMA_CRS, always_xy=True).transform(lon0, lat0)
    x, y = x0 + 2500.0 * np.arange(30), y0 + 2500.0 * np.arange(20)
    lon, lat = Transformer.from_crs(URMA_CRS, 4326, always_xy=True).transform(*np.meshgrid(x, y))
    coords = {"y": y, "x": x, "latitude": (("y", "x"), lat), "longitude": (("y", "x"), lon)}
    da = xr.DataArray(values.astype(np.float32), dims=("time", "y", "x"), coords=coords, name="t2m")
    return da.rio.write_crs(URMA_CRS)


def test_extract_points_on_projected_grid_matches_loop_and_is_exact_for_planes():
    rng = np.random.default_rng(2)
    lat, lon = rng.uniform(40.05, 40.4, 6), rng.uniform(-94.95, -94.2, 6)
    names = [f"p{i}" for i in range(6)]
    field = _urma_like_field(rng.uniform(260, 280, (3, 20, 30)))
    px, py = Transformer.from_crs(4326, URMA_CRS, always_xy=True).transform(lon, lat)
    out = extract_points(field, lat, lon, names)
    np.testing.assert_array_equal(out.latitude, lat)  # the sites' own, not the grid's 2-D coordinates
    ref = _reference(field.values.astype(np.float64), field.y.values, field.x.values, py, px, "bilinear")
    np.testing.assert_allclose(out.values, ref, rtol=0, atol=1e-4)
    # a plane in projected metres is reproduced exactly by bilinear interpolation
    xx, yy = np.meshgrid(field.x.values - field.x.values[0], field.y.values - field.y.values[0])
    plane = field.copy(data=np.broadcast_to(260 + 1e-4 * xx + 2e-4 * yy, field.shape).astype(np.float32))
    expected = 260 + 1e-4 * (px - field.x.values[0]) + 2e-4 * (py - field.y.values[0])
    np.testing.assert_allclose(extract_points(plane, lat, lon, names).values[0], expected, atol=1e-4)


def test_extract_points_outside_grid_names_the_site(era5):
    with pytest.raises(InputError, match="site 'paris'"):
        extract_points(era5.isel(time=0), [51.5, 48.85], [-0.1, 12.5], ["london", "paris"])


def test_daily_means_on_real_era5_equal_numpy(era5):
    out = daily(era5)
    raw = era5.values.astype(np.float64).reshape(21, 24, *era5.shape[1:])
    assert out.sizes["date"] == 21 and out["date"].values[0] == np.datetime64("2019-03-01", "ns")
    np.testing.assert_allclose(out.t2m_mean.values, raw.mean(axis=1), rtol=0, atol=1e-4)
    np.testing.assert_array_equal(out.t2m_min.values, raw.min(axis=1).astype(np.float32))
    np.testing.assert_array_equal(out.t2m_max.values, raw.max(axis=1).astype(np.float32))
    assert (out.n_hours.values == 24).all() and out.t2m_mean.dtype == np.float32
    assert "at least 24 of its 24" in out.attrs["completeness"]


def test_daily_detects_gaps_and_applies_the_rule(era5):
    points = extract_points(era5, [52.2, 55.9], [0.1, -3.2], ["cambridge", "edinburgh"]).transpose("site", "time")
    t = points.time.values
    day4 = (t >= np.datetime64("2019-03-04", "ns")) & (t < np.datetime64("2019-03-05", "ns"))
    keep = ~((t == np.datetime64("2019-03-02T05", "ns")) | day4)
    gappy = points.isel(time=keep).copy()
    gappy.loc[{"site": "edinburgh", "time": np.datetime64("2019-03-02T06", "ns")}] = np.inf  # not finite: absent
    strict, lenient = daily(gappy), daily(gappy, DailyRule(min_hours=22))
    assert strict.t2m_mean.dims == ("site", "date") and strict.sizes["date"] == 21  # the empty day is kept
    np.testing.assert_array_equal(strict.n_hours.values[:, 1:4], [[23, 24, 0], [22, 24, 0]])
    assert np.isnan(strict.t2m_mean.values[:, [1, 3]]).all() and np.isfinite(strict.t2m_mean.values[:, 2]).all()
    day2 = points.values[:, 24:48].astype(np.float64)
    expected = [np.delete(day2[0], 5).mean(), np.delete(day2[1], [5, 6]).mean()]
    np.testing.assert_allclose(lenient.t2m_mean.values[:, 1], expected, atol=1e-4)
    assert np.isnan(lenient.t2m_mean.values[:, 3]).all() and "at least 22" in lenient.attrs["completeness"]


@pytest.mark.parametrize("bad", ["off_hour", "repeated"])
def test_daily_rejects_non_hourly_times_and_bad_rules(era5, bad):
    series = era5.isel(time=slice(0, 4))
    times = series.time.values.copy()
    times[2] = times[1] + np.timedelta64(30, "m") if bad == "off_hour" else times[1]
    with pytest.raises(InputError, match="time"):
        daily(series.assign_coords(time=times))
    with pytest.raises(InputError, match="min_hours"):
        DailyRule(min_hours=25)


@pytest.fixture(scope="module")
def tiles() -> dict[str, TileGrid]:
    """Grids of two real tiles: North Jutland (UTM 32N) and the Parana coast (UTM 22S, west of Greenwich)."""
    return {name: read_s2l2a(S2 / f"{name}.tif", boa_add_offset=0).grid for name in ("637U_59R_1_3", "282D_485L_3_3")}


def test_tile_grid_matches_rioxarray_pixel_centres(tiles):
    with rioxarray.open_rasterio(S2 / "637U_59R_1_3.tif") as da:
        x, y = tiles["637U_59R_1_3"].centres()
        np.testing.assert_allclose(x, da.x.values)
        np.testing.assert_allclose(y, da.y.values)
    assert tiles["637U_59R_1_3"].mismatch(tiles["282D_485L_3_3"]).startswith("CRS")
    with pytest.raises(InputError, match="transform"):
        TileGrid("EPSG:32632", Affine(10, 1, 0, 0, -10, 0), (2, 2))


@pytest.mark.parametrize("name", ["637U_59R_1_3", "282D_485L_3_3"])
def test_regrid_linear_lat_field_onto_real_tile_is_analytic(tiles, name):
    grid = tiles[name]
    lat, lon = np.arange(90.0, -90.1, -0.25), np.arange(0.0, 360.0, 0.25)  # global, 0..360, descending lat
    field = _lonlat_field(lat, lon, np.broadcast_to(280 + 0.1 * lat[:, None], (2, lat.size, lon.size)))
    out = regrid_to_tile(field, grid.crs, grid.transform, grid.shape)
    assert out.dims == ("time", "y", "x") and out.shape == (2, *grid.shape) and out.dtype == np.float32
    assert TileGrid.of(out).mismatch(grid) == ""
    x, y = grid.centres()
    _, pixel_lat = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform(*np.meshgrid(x, y))
    np.testing.assert_allclose(out.values[1], 280 + 0.1 * pixel_lat, rtol=0, atol=1e-4)


def test_regrid_keeps_nan_and_rejects_uncovered_tile(era5, tiles):
    grid = tiles["637U_59R_1_3"]  # North Jutland, 57.1 N 9.9 E: outside the UK ERA5 box
    with pytest.raises(InputError, match="tile"):
        regrid_to_tile(era5.isel(time=0), grid.crs, grid.transform, grid.shape)
    lat, lon = np.arange(57.3, 57.15, -0.005), np.arange(9.8, 9.9, 0.005)  # cells of ~0.5 km: a few per tile
    values = np.random.default_rng(3).uniform(270, 280, (1, lat.size, lon.size))
    x, y = grid.centres()
    to_lonlat = Transformer.from_crs(grid.crs, 4326, always_xy=True)
    pixel_lon, pixel_lat = to_lonlat.transform(*np.meshgrid(x[::37], y[::37]))
    j, i = _bracket(lat, pixel_lat[0, 0])[0], _bracket(lon, pixel_lon[0, 0])[0]
    values[0, j, i] = np.nan  # a corner of the north-west pixel's cell
    out = regrid_to_tile(_lonlat_field(lat, lon, values), grid.crs, grid.transform, grid.shape)
    ref = _reference(values, lat, lon, pixel_lat.ravel(), pixel_lon.ravel(), "bilinear").reshape(pixel_lat.shape)
    np.testing.assert_allclose(out.values[0, ::37, ::37], ref, rtol=0, atol=1e-4)
    assert np.isnan(out.values[0, 0, 0]) and np.isfinite(out.values).mean() > 0.5


def test_regrid_projected_plane_onto_real_tile_is_analytic():
    """A Lambert conformal (URMA-like) field that is a plane in its metres, onto the Ontario tile (UTM 16N)."""
    grid = read_s2l2a(S2 / "609U_541L_3_0.tif", boa_add_offset=0).grid  # about 54.8 N, 84.0 W
    field = _urma_like_field(np.zeros((1, 20, 30)), lat0=54.75, lon0=-84.1)
    xx, yy = np.meshgrid(field.x.values - field.x.values[0], field.y.values - field.y.values[0])
    field = field.copy(data=(250 + 1e-4 * xx + 2e-4 * yy)[None].astype(np.float32))
    out = regrid_to_tile(field, grid.crs, grid.transform, grid.shape)
    x, y = grid.centres()
    fx, fy = Transformer.from_crs(grid.crs, URMA_CRS, always_xy=True).transform(*np.meshgrid(x, y))
    expected = 250 + 1e-4 * (fx - field.x.values[0]) + 2e-4 * (fy - field.y.values[0])
    np.testing.assert_allclose(out.values[0], expected, rtol=0, atol=1e-4)


def test_covers_agrees_with_extract_points(era5):
    lat, lon = [51.5, 60.0, 50.0, 52.0], [-0.25, -0.25, 2.0, 3.0]
    assert covers(era5, lat, lon).tolist() == [True, False, True, False]
    for la, lo, ok in zip(lat, lon, covers(era5, lat, lon)):
        if not ok:
            with pytest.raises(InputError):
                extract_points(era5, [la], [lo], ["s"])


def test_tile_corners_lonlat_bound_the_pixel_centres(tiles):
    grid = tiles["637U_59R_1_3"]  # North Jutland, EPSG:32632
    lon, lat = grid.corners_lonlat()
    x, y = grid.centres()
    clon, clat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(*np.meshgrid(x, y))
    assert lon.min() < clon.min() and clon.max() < lon.max()
    assert lat.min() < clat.min() and clat.max() < lat.max()
    assert 56 < lat.mean() < 58 and 9 < lon.mean() < 11
