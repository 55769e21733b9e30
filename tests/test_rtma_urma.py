"""URMA / RTMA through Herbie, offline: a real-format Lambert conformal GRIB2 analysis on the URMA/RTMA 2.5 km grid
(tests/grib_samples.py) placed where Herbie looks for it, with the project's .idx, fetched with the network off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest

from grib_samples import DX, LAMBERT_KEYS, t2m_of, write_lambert_analysis
from tm_weather.catalog import Catalog
from tm_weather.grib import write_idx
from tm_weather.series import extract_points
from tm_weather.lexicon import check_t2m
from tm_weather.sources import open_source
from tm_weather.sources.base import ANALYSIS

VALID = np.datetime64("2024-01-10T12:00", "ns")
STEP = 4  # the sample holds every 4th point of the real grid: 587 x 400

#: Corners (lat, lon) of the real URMA/RTMA 2.5 km "wexp" grid (2345 x 1597; see tests/grib_samples.py for the
#: grid definition and its sources). SW is the published first grid point (19.228976 N, 233.723448 E); the others
#: are that grid's points (2345, 1), (1, 1597), (2345, 1597), computed with PROJ from the published definition. Their
#: longitudes -138.373199 (NW) and -59.042148 (NE) are the west and east limits published for the URMA 2.5 km grid.
CORNERS = {
    "sw": (19.228976, -126.276552),
    "se": (20.331706, -69.208195),
    "nw": (53.050546, -138.373199),
    "ne": (54.372754, -59.042148),
}


def cached_analysis(tmp_path: Path, kind: str = "urma"):
    """The `kind` source of a catalog whose cache holds the sample analysis valid at VALID where Herbie looks for
    it (templates urma/rtma, product anl: <save_dir>/<model>/<YYYYMMDD>/<model>2p5.tHHz.2dvaranl_ndfd.grb2_wexp),
    with the project's .idx beside it."""
    path = tmp_path / "cache" / kind / "20240110" / f"{kind}2p5.t12z.2dvaranl_ndfd.grb2_wexp"
    path.parent.mkdir(parents=True)
    write_idx(write_lambert_analysis(path, "2024-01-10T12:00", step=STEP))
    catalog = Catalog(root=tmp_path, store=Path("store.zarr"), cache_dir=Path("cache"), sources={kind: {"kind": kind}})
    return open_source(kind, catalog.sources[kind], catalog)


@pytest.mark.parametrize("kind", ["urma", "rtma"])
def test_analysis_on_lambert_grid_from_cache_without_network(tmp_path, no_network, kind):
    source = cached_analysis(tmp_path, kind)

    assert source.dims == ANALYSIS
    assert len(source.times(np.datetime64("2024-01-10T00:00"), np.datetime64("2024-01-10T23:59"))) == 24
    da = check_t2m(source([VALID]), kind)

    assert da.dims == ("time", "y", "x") and da.shape == (1, 400, 587)
    assert da.time.values[0] == VALID
    corners = {"sw": (0, 0), "se": (0, -1), "nw": (-1, 0), "ne": (-1, -1)}
    for name, (j, i) in corners.items():
        got = (float(da.latitude[j, i]), float(da.longitude[j, i]))
        np.testing.assert_allclose(got, CORNERS[name], atol=1e-5, err_msg=name)

    # The CRS is the grid's Lambert conformal conic on its sphere, and x/y are its metres.
    crs = pyproj.CRS.from_user_input(da.rio.crs)
    params = {p.name: p.value for p in crs.coordinate_operation.params}
    assert params["Latitude of 1st standard parallel"] == 25.0 and params["Longitude of false origin"] in (265.0, -95.0)
    assert crs.ellipsoid.semi_major_metre == crs.ellipsoid.semi_minor_metre == 6371200.0
    np.testing.assert_allclose(np.diff(da.x.values), DX * STEP, rtol=1e-9)
    np.testing.assert_allclose(np.diff(da.y.values), DX * STEP, rtol=1e-9)
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_xy.transform(da.longitude.values, da.latitude.values)
    np.testing.assert_allclose(x, np.broadcast_to(da.x.values, x.shape), atol=0.01)
    np.testing.assert_allclose(y, np.broadcast_to(da.y.values[:, None], y.shape), atol=0.01)

    # A point found through the CRS (as point extraction finds it): Denver, 39.74 N 104.99 W.
    px, py = to_xy.transform(-104.99, 39.74)
    point = da.isel(time=0).sel(x=px, y=py, method="nearest")
    assert abs(float(point.x) - px) <= DX * STEP / 2 and abs(float(point.y) - py) <= DX * STEP / 2
    expected = t2m_of(float(point.latitude), float(point.longitude))
    assert float(point) == pytest.approx(expected, abs=1e-3)


def test_point_extraction_through_the_grid_crs(tmp_path, no_network):
    lat, lon = np.array([39.74, 43.88, 25.77]), np.array([-104.99, -91.25, -80.19])  # Denver, La Crosse, Miami
    sites = extract_points(cached_analysis(tmp_path)([VALID]), lat=lat, lon=lon, names=["denver", "la_crosse", "miami"])
    # Bilinear between grid points 10 km apart of a field smooth in lat/lon: the field's value at the site.
    np.testing.assert_allclose(sites.isel(time=0).values, t2m_of(lat, lon), atol=0.01)


def test_known_grid_point_value_matches_the_grid_definition(tmp_path, no_network):
    da = cached_analysis(tmp_path)([VALID]).isel(time=0)

    # Real-grid point (i, j) = (1200, 800) (0-based), located independently of the file with PROJ.
    lcc = pyproj.CRS.from_proj4("+proj=lcc +lat_1=25 +lat_2=25 +lat_0=25 +lon_0=265 +R=6371200 +units=m +no_defs")
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", lcc, always_xy=True)
    x0, y0 = to_xy.transform(LAMBERT_KEYS["longitudeOfFirstGridPointInDegrees"], LAMBERT_KEYS["latitudeOfFirstGridPointInDegrees"])
    lon, lat = to_xy.transform(x0 + 1200 * DX, y0 + 800 * DX, direction="INVERSE")
    point = da.isel(y=800 // STEP, x=1200 // STEP)
    assert (float(point.latitude), float(point.longitude)) == pytest.approx((lat, lon), abs=1e-6)
    assert float(point) == pytest.approx(t2m_of(lat, lon), abs=1e-3)
