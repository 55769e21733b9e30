"""The benchmark world (issue 3): reproducible bytes, files every reader opens, a valid catalog, and the claims
its table makes (GFS errors grow with lead time; land cover carries information the baseline lacks)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from pathlib import Path

import eccodes
import numpy as np
import pytest
import rasterio
import xarray as xr

from tm_weather.catalog import load_catalog
from tm_weather.cli import main
from tm_weather.grib import read_t2m
from tm_weather.ingest import ingest
from tm_weather.sources.era5 import read_era5_file
from tm_weather.sources.isd import read_isd
from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a
from tm_weather.world import constants as C
from tm_weather.world.build import build_world
from tm_weather.world.era5_fit import fit_era5
from tm_weather.world.gfs import MESSAGES, error_sd
from tm_weather.world.presets import PRESETS
from tm_weather.world.report import Scores


def digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Scores]:
    """The tiny world for seed 0: (folder, test-split scores)."""
    out = tmp_path_factory.mktemp("world") / "seed0"
    return out, build_world(out, PRESETS["tiny"], 0)


def test_cli_same_seed_same_bytes_other_seed_different_and_table_printed(world, tmp_path):
    out, _ = world
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["world", "--out", str(tmp_path / "again"), "--preset", "tiny", "--seed", "0"]) == 0
    build_world(tmp_path / "other", PRESETS["tiny"], 1)
    first, again, other = digests(out), digests(tmp_path / "again"), digests(tmp_path / "other")
    assert len(first) > 300 and first == again
    common = set(first) & set(other)
    changed = [p for p in common if first[p] != other[p]]
    assert len(changed) > 0.9 * len(common), f"only {len(changed)} of {len(common)} files differ"
    for term in ("climate", "diurnal", "synoptic", "elevation", "water", "urban", "forest", "snow", "noise"):
        assert f"\n{term} " in printed.getvalue()
    assert "GFS+lapse baseline, f000" in printed.getvalue() and "what S-2 adds" in printed.getvalue()


def test_tiles_open_with_rasterio_and_the_project_reader(world):
    out, _ = world
    paths = sorted((out / "S2L2A").glob("*.tif"))
    assert len(paths) == sum(PRESETS["tiny"].tiles.values())
    for path in paths:
        with rasterio.open(path) as src:
            assert (src.count, src.width, src.height, src.dtypes[0]) == (12, 224, 224, "int16")
            assert src.crs.to_epsg() in range(32601, 32661) and src.res == (10.0, 10.0)
            assert src.tags()["BOA_ADD_OFFSET"] == "-1000"
        tile = read_s2l2a(path)
        assert tile.boa_add_offset == -1000 and not tile.mask.any()
        assert 0 < float(tile.reflectance.median()) < 0.6
        dem = read_dem(out / "DEM" / path.name, tile.grid)
        lulc = read_lulc(out / "LULC" / path.name, tile.grid)
        assert float(dem.min()) >= 0 and set(np.unique(lulc.values)) <= set(range(1, 10)) - {C.CLOUDS}


def test_gfs_files_open_with_eccodes_cfgrib_and_the_project_reader(world):
    out, _ = world
    files = sorted((out / "cache" / "gfs").rglob("gfs.t*z.pgrb2.0p25.f0[0-9][0-9]"))
    days = sum(n for episodes in PRESETS["tiny"].episodes.values() for _, _, n in episodes)
    assert len(files) == days * len(C.GFS_CYCLES) * len(C.GFS_LEADS)
    for path in files:
        with open(path, "rb") as f:
            names = []
            while (h := eccodes.codes_grib_new_from_file(f)) is not None:
                names.append(eccodes.codes_get(h, "shortName"))
                eccodes.codes_release(h)
        assert len(names) == len(MESSAGES) and names[2] == "2t"
        assert "TMP:2 m above ground" in Path(f"{path}.idx").read_text().splitlines()[2]
        da = read_t2m(path)
        assert da.dtype == np.float32 and 240 < float(da.mean()) < 320
    ds = xr.open_dataset(files[0], engine="cfgrib", backend_kwargs={"indexpath": "", "filter_by_keys": {"shortName": "2t"}})
    assert ds["t2m"].dims == ("latitude", "longitude")


def test_truth_and_stations_open_with_xarray_and_the_project_readers(world):
    out, _ = world
    truth = sorted((out / "truth").glob("*.nc"))
    stations = sorted((out / "isd").iterdir())
    n = PRESETS["tiny"].truth_cells
    assert len(truth) == len(stations) == sum(PRESETS["tiny"].tiles.values())
    for truth_path, station_path in zip(truth, stations):
        with xr.open_dataset(truth_path) as ds:
            assert ds["t2m"].shape == (24 * 3, n, n) and ds["t2m"].attrs["units"] == "K"
            np.testing.assert_allclose(np.diff(ds["latitude"]), -C.TRUTH_RESOLUTION_DEG, atol=1e-6)
        da = read_era5_file(truth_path)
        assert da.dims == ("time", "y", "x") and float(da.std()) > 0.5
        reports = read_isd(station_path)
        assert len(reports) == 24 * 3 and reports["t2m"].notna().all()
        centre = da.isel(y=n // 2, x=n // 2).values
        assert np.sqrt(np.mean((reports["t2m"].values - centre) ** 2)) < 3 * C.STATION_NOISE_K


def test_catalog_loads_and_splits_keep_test_tiles_and_days_apart(world):
    out, _ = world
    catalog = load_catalog(out / "catalog.yaml")
    for source in catalog.sources.values():
        for p in getattr(source, "paths", []):
            assert catalog.path(p).is_file()
    for tile in catalog.tiles:
        assert catalog.path(tile.s2).is_file() and catalog.path(tile.dem).is_file()
    train, test = catalog.splits["train"], catalog.splits["test"]
    assert not set(train.tiles) & set(test.tiles) and train.end < test.start
    assert {s.name for s in catalog.sites} == {t.name for t in catalog.tiles}


def test_gfs_errors_grow_with_lead_and_land_cover_adds_information(world):
    _, scores = world
    assert np.all(np.diff(error_sd(np.asarray(C.GFS_LEADS))) > 0)
    assert sorted(scores.errors) == list(C.GFS_LEADS)
    assert sum(scores.shares().values()) == pytest.approx(1.0)
    # what the baseline misses and S-2 shows: the true sub-grid land-cover terms minus GFS's grid-scale ones
    missed = np.concatenate([o - e for lead in C.GFS_LEADS for o, e in zip(scores.oracle_errors[lead], scores.errors[lead])])
    assert missed.std() > 0.15


def test_fitted_constants_match_a_fit_on_the_real_era5_fixture(data_dir):
    fit = fit_era5(data_dir / "era5" / "era5_t2m_uk_2019-03-01_21.grib")
    for name in ("mean_t2m", "warming_rate", "annual_amplitude", "land_diurnal_range", "sea_diurnal_range",
                 "ar1_daily", "sd_daily", "corr_length_km"):
        assert getattr(fit, name) == pytest.approx(getattr(C.ERA5_FIT, name), rel=1e-3), name
    np.testing.assert_allclose(fit.diurnal_shape, C.ERA5_FIT.diurnal_shape, atol=1e-4)
    assert 0.1 < fit.water_damping < 0.5  # sea damps the diurnal cycle


def test_ingest_stores_the_worlds_series_and_fields(world, tmp_path):
    out, _ = world
    shutil.copytree(out, tmp_path / "w")
    catalog = load_catalog(tmp_path / "w" / "catalog.yaml")
    day = catalog.splits["train"].start  # one day keeps the test short: the train tiles were acquired on it
    report = ingest(catalog, start=day, end=day, progress=False)
    written = " ".join(report.written)
    assert not report.empty
    for kind, source in (("forecast", "gfs"), ("hourly", "gfs_analysis"), ("stations", "isd"), ("hourly", "truth_tile00")):
        assert f"{kind}/{source}/{day}" in written, (kind, source)
    for name in catalog.splits["train"].tiles:
        assert f"fields/truth_{name}/{name}/{day}" in written
