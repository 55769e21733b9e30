"""The National Blend of Models through Herbie, offline: NBM-like CONUS files (the URMA/RTMA 2.5 km Lambert grid,
scanning mode 80: every second row stored east to west, as NBM's are; tests/grib_samples.py) placed where Herbie
looks for them with their .idx, fetched by `NBMForecast` with the network off; and 2 m temperature at sites on
files with alternative row scanning, and on the real NOAA (GFS) and ECMWF (ERA5) fixtures, against ecCodes' own
lat/lon/value triplets. `../shared/data` holds no real file with alternative row scanning (its GFS and ERA5
files scan rows one way): the NBM-like files are written with ecCodes from its samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip
from grib_samples import assert_sites_within_four_values_and_bilinear, bilinear_from_triplets, geo_iterator, write_lambert_analysis
from tm_weather import grib
from tm_weather.catalog import Catalog, load_catalog
from tm_weather.errors import InputError
from tm_weather.lexicon import check_t2m
from tm_weather.sources import open_source
from tm_weather.sources.base import FORECAST, OrographySource, RunSource

RUN = np.datetime64("2024-01-10T06:00", "ns")
FXX = 6
#: Where Herbie's `nbm` template (product "co") keeps run 2024-01-10 06Z +6 h under the cache.
HERBIE_PATH = Path("nbm", "20240110", "blend.t06z.core.f006.co.grib2")
#: The sites of issue 14's report: Austin, Denver, Seattle (lat, lon).
SITES = {"austin": (30.27, -97.74), "denver": (39.74, -104.99), "seattle": (47.61, -122.33)}


def write_nbm_core(path: Path, run: np.datetime64 = RUN, fxx: int = FXX) -> Path:
    """An NBM-like core file at `path` with its .idx: PRES, TMP 2 m, DPT 2 m (`write_lambert_analysis`, scanning
    mode 80), then TMP 2 m's ensemble spread, whose inventory line ends ":ens std dev:" as NBM's does."""
    valid = str(np.datetime64(run, "m") + np.timedelta64(fxx, "h"))
    write_lambert_analysis(path, valid, step=4, scanning_mode=80, lead_hours=fxx)
    with open(path, "rb") as f:
        eccodes.codes_release(eccodes.codes_grib_new_from_file(f))  # PRES
        h = eccodes.codes_grib_new_from_file(f)  # TMP 2 m
    try:
        eccodes.codes_set(h, "productDefinitionTemplateNumber", 2)  # derived from an ensemble
        eccodes.codes_set(h, "derivedForecast", 4)  # spread (standard deviation)
        eccodes.codes_set(h, "numberOfForecastsInEnsemble", 40)
        eccodes.codes_set_values(h, np.full(eccodes.codes_get(h, "numberOfDataPoints"), 1.5))
        spread = eccodes.codes_get_message(h)
    finally:
        eccodes.codes_release(h)
    with open(path, "ab") as f:
        f.write(spread)
    idx = grib.write_idx(path)
    lines = idx.read_text().splitlines()
    assert lines[3].endswith(f":TMP:2 m above ground:{fxx} hour fcst:")
    lines[3] += "ens std dev:"
    idx.write_text("\n".join(lines) + "\n")
    return path


def open_nbm(tmp_path: Path, **config):
    catalog = Catalog(root=tmp_path, store=Path("store.zarr"), cache_dir=Path("cache"),
                      sources={"nbm": {"kind": "nbm", "cycles": [6], "fxx": [FXX], **config}})
    return open_source("nbm", catalog.sources["nbm"], catalog)


@pytest.fixture
def nbm_cached(tmp_path):
    path = tmp_path / "cache" / HERBIE_PATH
    path.parent.mkdir(parents=True)
    return write_nbm_core(path)


def test_nbm_forecast_from_herbies_cache_without_network(tmp_path, nbm_cached, no_network):
    source = open_nbm(tmp_path)
    assert source.dims == FORECAST and source.name == "nbm"
    assert isinstance(source, RunSource) and not isinstance(source, OrographySource)
    np.testing.assert_array_equal(source.times(np.datetime64("2024-01-10T00:00"), np.datetime64("2024-01-10T23:00")), [RUN])
    da = check_t2m(source([RUN]), "nbm")
    assert da.dims == ("init_time", "lead_time", "y", "x") and da.shape == (1, 1, 400, 587)
    assert da.valid_time.values[0, 0] == RUN + np.timedelta64(FXX, "h")
    # Only the deterministic TMP 2 m message was cut from the cached file (not its ens std dev line).
    subsets = sorted(nbm_cached.parent.glob("subset_*"))
    assert len(subsets) == 1
    with open(subsets[0], "rb") as f:
        assert eccodes.codes_count_in_file(f) == 1
    assert float(da.min()) > 250.0


def test_nbm_sites_lie_within_their_four_grid_values_and_equal_bilinear_of_eccodes_triplets(tmp_path, nbm_cached, no_network):
    """Issue 14's report on NBM CONUS: Austin, Denver and Seattle each within the four surrounding grid values
    ecCodes reports, and equal to a bilinear interpolation of ecCodes' own lat/lon/value triplets."""
    da = open_nbm(tmp_path)([RUN]).isel(init_time=0, lead_time=0)
    subset = next(nbm_cached.parent.glob("subset_*"))
    with open(subset, "rb") as f:
        h = eccodes.codes_grib_new_from_file(f)
    try:
        assert eccodes.codes_get(h, "alternativeRowScanning") == 1 and eccodes.codes_get(h, "scanningMode") == 80
        assert_sites_within_four_values_and_bilinear(da, h, SITES)
    finally:
        eccodes.codes_release(h)


@pytest.mark.parametrize("fixture, sites", [
    ("gfs/gfs.t12z.pgrbf120.2p5deg.grib2", {"austin": (30.27, -97.74), "la_crosse": (43.88, -91.25), "reading": (51.44, -0.94)}),
    ("era5/era5_t2m_uk_2019-03-01_21.grib", {"reading": (51.44, -0.94), "edinburgh": (55.95, -3.19), "cardiff": (51.48, -3.18)}),
])
def test_real_noaa_and_ecmwf_sites_within_four_values_and_bilinear_of_triplets(data_dir, fixture, sites):
    """The same check on the real files (no alternative row scanning among them): the first T2M message."""
    da = grib.read_t2m(data_dir / fixture).isel(time=0)
    with open(data_dir / fixture, "rb") as f:
        while eccodes.codes_get(h := eccodes.codes_grib_new_from_file(f), "shortName") != "2t":
            eccodes.codes_release(h)
    try:
        assert_sites_within_four_values_and_bilinear(da, h, sites)
    finally:
        eccodes.codes_release(h)


def test_nbm_in_a_catalog_file(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("store: store.zarr\ncache_dir: cache\nsources:\n  blend:\n    kind: nbm\n    product: ak\n    fxx: [1, 2]\n")
    config = load_catalog(path).sources["blend"]
    assert (config.kind, config.product, config.fxx, config.cycles) == ("nbm", "ak", [1, 2], list(range(24)))
    path.write_text("store: store.zarr\ncache_dir: cache\nsources:\n  blend:\n    kind: nbm\n    fxx: [0]\n")
    with pytest.raises(InputError, match=r"sources\.blend\.fxx\[0\]"):  # NBM has no lead 0
        load_catalog(path)


def test_nbm_missing_from_cache_with_no_remote_is_input_error(tmp_path, no_network):
    with pytest.raises(InputError, match="cache only"):
        open_nbm(tmp_path, priority=[])([RUN])


def test_nbm_baseline_in_verify_where_the_catalog_has_it(tmp_path, nbm_cached, no_network):
    """`tm-weather verify`'s baselines include "NBM 12 h" for a catalog with an `nbm` source: the NBM run nearest
    12 h before each valid hour, bilinear onto the tile (here a 3 x 3 km UTM tile centred on Denver)."""

    import pyproj
    from affine import Affine

    from tm_weather.catalog import Tile
    from tm_weather.verify.run import _baselines
    from tm_weather.series import TileGrid
    from tm_weather.verify.baselines import TileCase

    catalog = Catalog(root=tmp_path, store=Path("store.zarr"), cache_dir=Path("cache"),
                      sources={"blend": {"kind": "nbm", "cycles": [6], "fxx": [FXX]}})
    baselines = _baselines("blend", [], catalog, None, np.array([0], "timedelta64[ns]"))
    nbm = next(b for b in baselines if b.name == "NBM 12 h")
    utm = pyproj.CRS.from_epsg(32613)
    cx, cy = pyproj.Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform(SITES["denver"][1], SITES["denver"][0])
    grid = TileGrid(utm, Affine(1000.0, 0, cx - 1500.0, 0, -1000.0, cy + 1500.0), (3, 3))
    valid = np.array([RUN + np.timedelta64(FXX, "h")])
    case = TileCase("denver", grid, valid, np.array([0], "timedelta64[ns]"), Tile(name="denver", s2=Path("unused.tif")))
    field = nbm.runs.field(case, lapse=False)
    assert field.shape == (1, 3, 3)
    with open(next(nbm_cached.parent.glob("subset_*")), "rb") as f:
        h = eccodes.codes_grib_new_from_file(f)
    lat, lon, value = geo_iterator(h).T
    eccodes.codes_release(h)
    expected, _ = bilinear_from_triplets(open_nbm(tmp_path)([RUN]).rio.crs, lat, lon, value, *SITES["denver"])
    assert float(field.values[0, 1, 1]) == pytest.approx(expected, abs=1e-4)


def test_cfgrib_reads_the_nbm_like_file_as_tm_weather_does(tmp_path):
    """An independent reader on the alternative-row file: cfgrib's decoded field, row for row, is tm-weather's."""
    import xarray as xr

    path = write_lambert_analysis(tmp_path / "blend.grib2", "2024-01-10T12:00", step=4, scanning_mode=80)
    ours = grib.read_t2m(path).isel(time=0)
    with xr.open_dataset(path, engine="cfgrib", filter_by_keys={"shortName": "2t"}, backend_kwargs={"indexpath": ""}) as ds:
        np.testing.assert_allclose(ds.t2m.values, ours.values, atol=1e-4)
        np.testing.assert_allclose(ds.latitude.values, ours.latitude.values, atol=1e-6)
