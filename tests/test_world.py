"""The benchmark world (issues 3 and 12): reproducible bytes, files every reader opens, a valid catalog, truth with
structure inside the tile on the tile's own grid, bad input refused whole, and the claims its table makes (GFS
errors grow with lead time; the oracle of the surface terms beats GFS + lapse, in total and inside the tile)."""

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
from tm_weather.series import regrid_to_tile
from tm_weather.sources.field_file import read_field_file
from tm_weather.sources.isd import read_isd
from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a, read_scl
from tm_weather.world import constants as C
from tm_weather.world.build import build_world
from tm_weather.world.era5_fit import fit_era5
from tm_weather.world.gfs import MESSAGES, error_sd
from tm_weather.world.layout import plan
from tm_weather.world.physics import TERMS, WITHIN_TILE_TERMS
from tm_weather.world.presets import PRESETS
from tm_weather.world.report import Scores
from tm_weather.world import sentinel2 as S2


def digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Scores]:
    """The tiny world for seed 0: (folder, test-split scores); its test tiles' terms in the folder's sibling
    `terms` (outside it, so that its bytes are the CLI's)."""
    out = tmp_path_factory.mktemp("world") / "seed0"
    return out, build_world(out, PRESETS["tiny"], 0, terms_dir=out.parent / "terms")


def test_kept_terms_add_up_to_the_truth_inside_each_test_tile(world):
    out, _ = world
    catalog = load_catalog(out / "catalog.yaml")
    test = catalog.splits["test"].tiles
    assert test and sorted(p.stem for p in (out.parent / "terms").glob("*.npz")) == sorted(test)
    for name in test:
        kept = np.load(out.parent / "terms" / f"{name}.npz")
        assert sorted(kept.files) == sorted(["hours", *WITHIN_TILE_TERMS])
        with xr.open_dataset(out / "truth" / f"{name}.nc") as ds:
            truth = ds["t2m"].values
            assert (kept["hours"].astype("datetime64[h]") == ds["time"].values.astype("datetime64[h]")).all()
        inside = sum(kept[k] for k in WITHIN_TILE_TERMS)
        error = (inside - inside.mean((1, 2), keepdims=True)) - (truth - truth.mean((1, 2), keepdims=True))
        assert np.abs(error).max() < 0.01, name  # the truth file is packed at 0.01 K


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
    for term in TERMS:
        assert f"\n{term} " in printed.getvalue()
    for row in ("GFS at the tile", "GFS + lapse rate", "oracle", "inside the tile: a flat field"):
        assert row in printed.getvalue()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the temporary build folder is gone


@pytest.mark.parametrize("case", ["missing climatology", "corrupt climatology", "unknown preset", "unwritable folder"])
def test_bad_input_exits_2_naming_the_file_and_writes_no_world(case, tmp_path, capsys):
    out, clim = tmp_path / "w", tmp_path / "clim.nc"
    argv = ["world", "--out", str(out), "--preset", "tiny"]
    if case == "missing climatology":
        argv += ["--climatology", str(clim)]
    elif case == "corrupt climatology":
        clim.write_bytes(b"CDF\x01" + b"\x00garbage" * 50)
        argv += ["--climatology", str(clim)]
    elif case == "unknown preset":
        argv[-1] = "huge"
    else:
        (tmp_path / "file").write_text("not a folder")
        out = tmp_path / "file" / "w"
        argv[2] = str(out)
    assert main(argv) == 2
    message = capsys.readouterr().err
    expected = {"unknown preset": "huge", "unwritable folder": str(tmp_path / "file")}.get(case, str(clim))
    assert expected in message
    assert not out.exists() and not any(p.name.startswith(".w.") for p in tmp_path.iterdir())


def test_layout_spans_both_hemispheres_and_keeps_test_locations_and_days_apart():
    layout = plan(PRESETS["demo"], np.random.default_rng(np.random.SeedSequence(3).spawn(6)[0]))  # seed 3's stream
    lats = [loc.lat for loc in layout.locations]
    assert min(lats) < 0 < max(lats) and max(lats) - min(lats) >= 80
    days = {s: set(layout.split_days(s)) for s in ("train", "val", "test")}
    assert not days["train"] & days["test"] and not days["val"] & days["test"]
    first_days = [v.days[0] for v in layout.visits]
    assert len(set(first_days)) == len(first_days)  # every visit its own date
    assert all(np.diff(np.sort(np.array(first_days))) >= np.timedelta64(2, "D"))  # the day before is free
    test_places = {(loc.lat, loc.lon) for loc in layout.locations if loc.split == "test"}
    assert not test_places & {(loc.lat, loc.lon) for loc in layout.locations if loc.split == "train"}


def test_tiles_open_with_rasterio_and_the_project_reader(world):
    out, _ = world
    paths = sorted((out / "S2L2A").glob("*.tif"))
    assert len(paths) == sum(PRESETS["tiny"].locations.values())
    for path in paths:
        with rasterio.open(path) as src:
            assert (src.count, src.width, src.height, src.dtypes[0]) == (12, 224, 224, "int16")
            assert src.crs.to_epsg() in range(32601, 32661) and src.res == (10.0, 10.0)
            assert src.tags()["BOA_ADD_OFFSET"] == "-1000"
        tile = read_s2l2a(path, scl=out / "SCL" / path.name)
        assert tile.boa_add_offset == -1000
        dem = read_dem(out / "DEM" / path.name, tile.grid)
        lulc = read_lulc(out / "LULC" / path.name, tile.grid)
        scl = read_scl(out / "SCL" / path.name, tile.grid)
        assert float(dem.min()) >= 0 and set(np.unique(lulc.values)) <= set(range(1, 10)) - {C.CLOUDS}
        assert np.array_equal(tile.mask.values, np.isin(scl.values, (3, 8, 9, 10)))
        assert 0 < float(tile.reflectance.median()) < 0.6


def test_clouds_are_bright_and_masked_through_scl(monkeypatch):
    monkeypatch.setattr(S2, "CLOUDY_SCENE_SHARE", 1.0)
    grid = S2.TileGrid.centred(47.0, 8.0)
    lulc = np.full((224, 224), C.CROPS, np.uint8)
    spectra = S2.ClassSpectra.from_real_tiles()
    no_snow = np.zeros((224, 224), bool)
    scene = S2.make_scene(grid, np.zeros((224, 224)), lulc, no_snow, np.full((224, 224), 0.5), 290.0, spectra,
                          np.random.default_rng(0))
    cloudy = scene.scl == S2.SCL_CLOUD_HIGH
    assert 0.02 < cloudy.mean() < 0.7 and (scene.scl[~cloudy] != S2.SCL_NOT_VEGETATED).all()
    assert scene.s2[1][cloudy].mean() > 2 * scene.s2[1][scene.scl == S2.SCL_VEGETATION].mean()  # blue: clouds bright
    green, dormant = (S2.ClassSpectra.paint(spectra, lulc[:8, :8], np.full((8, 8), 0.5), g) for g in (1.0, 0.0))
    ndvi = lambda s: ((s[7].astype(float) - s[3]) / (s[7].astype(float) + s[3])).mean()  # noqa: E731
    assert ndvi(green) > ndvi(dormant)  # the season shows in the spectra


def test_forests_and_towns_show_through_snow_open_land_does_not():
    """Under snow, a forest pixel is mostly canopy and a town's half its own spectrum (C.SNOW_VISIBLE_SHARE); crops
    are snow. The LULC and SCL say snow everywhere."""
    grid = S2.TileGrid.centred(60.0, 25.0)
    ground = np.full((224, 224), C.CROPS, np.uint8)
    ground[:, 75:150], ground[:, 150:] = C.TREES, C.BUILT
    snow, texture = np.ones((224, 224), bool), np.full((224, 224), 0.5)
    spectra = S2.ClassSpectra.from_real_tiles()
    scene = S2.make_scene(grid, np.zeros((224, 224)), ground, snow, texture, 265.0, spectra, np.random.default_rng(1))
    assert (scene.lulc == C.SNOW).all() and (scene.scl == S2.SCL_SNOW).all()
    white = spectra.paint(np.full((224, 224), C.SNOW, np.uint8), texture, 0.0)
    bare = spectra.paint(ground, texture, 0.0)
    assert np.array_equal(scene.s2[:, :, :75], white[:, :, :75])
    for cols, code in ((slice(75, 150), C.TREES), (slice(150, None), C.BUILT)):
        share = C.SNOW_VISIBLE_SHARE[code]
        expected = (1 - share) * white[:, :, cols].astype(float) + share * bare[:, :, cols]
        assert np.abs(scene.s2[:, :, cols] - expected).max() <= 0.5
    assert scene.s2[1][:, 75:150].mean() < 0.6 * scene.s2[1][:, :75].mean()  # blue: a snowy forest is darker


def test_a_lake_under_snow_acts_as_snow_covered_land():
    """Ice and snow cut water off from the air: on a day under snow the water and coast terms vanish, on a day
    without snow they damp the diurnal cycle (a cooler afternoon over water) and carry the season's lag."""
    from tm_weather.climatology import packaged
    from tm_weather.world.physics import Surface, t2m_terms

    one = np.ones(1)
    surface = Surface(water=one, trees=0 * one, built=0 * one, bare=0 * one, coast=one, pool=0 * one,
                      snow=np.array([[0.0], [1.0]]), height=0 * one)
    times = np.array(["2020-03-10T12", "2020-03-11T12"], dtype="datetime64[h]")  # 12 UTC: afternoon at 30 E
    terms = t2m_terms(times, np.array([60.0]), np.array([30.0]), packaged(), np.zeros((2, 1)), one, surface,
                      np.array([0, 1]))
    assert terms["water"][0, 0] < -0.5 and terms["coast"][0, 0] < 0  # open water: a damped afternoon
    assert terms["water"][1, 0] == 0 and terms["coast"][1, 0] == 0  # frozen and white: land under snow
    assert terms["snow"][1, 0] == C.SNOW_K


def test_gfs_files_open_with_eccodes_cfgrib_and_the_project_reader(world):
    out, _ = world
    files = sorted((out / "cache" / "gfs").rglob("gfs.t*z.pgrb2.0p25.f0[0-9][0-9]"))
    runs = len(C.GFS_PREVIOUS_DAY_CYCLES) + 3 * len(C.GFS_CYCLES)  # the tiny world's one visit has three days
    assert len(files) == runs * len(C.GFS_LEADS)
    for path in files[:: len(C.GFS_LEADS) // 2]:
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


def test_truth_is_projected_hourly_40m_with_structure_inside_the_tile(world):
    out, _ = world
    catalog = load_catalog(out / "catalog.yaml")
    stations = sorted((out / "isd").iterdir())
    assert len(stations) == len(catalog.tiles) == len(list((out / "truth").glob("*.nc")))
    for tile, station_path in zip(catalog.tiles, stations):
        path = out / "truth" / f"{tile.name}.nc"
        with xr.open_dataset(path, decode_coords="all") as ds:
            assert ds["t2m"].dims == ("time", "y", "x") and "crs_wkt" in ds["spatial_ref"].attrs
            assert ds["x"].attrs["units"] == "m" and np.allclose(np.diff(ds["x"]), C.TRUTH_PIXEL_M)
        da = read_field_file(path)
        assert da.sizes["time"] == 24 * 3 and np.all(np.diff(da["time"].values) == np.timedelta64(1, "h"))
        assert da.rio.crs.to_epsg() in range(32601, 32661) and da["latitude"].shape == da.shape[1:]
        s2 = read_s2l2a(catalog.path(tile.s2))
        field = regrid_to_tile(da, s2.grid.crs, s2.grid.transform, s2.grid.shape)
        within = field.values.reshape(len(field), -1).std(axis=1)
        assert within.mean() > 0.15, within.mean()  # structure inside the 2.24 km tile
        reports = read_isd(station_path)
        centre = da.isel(y=da.sizes["y"] // 2, x=da.sizes["x"] // 2).values
        assert len(reports) == 24 * 3 and np.sqrt(np.mean((reports["t2m"].values - centre) ** 2)) < 3 * C.STATION_NOISE_K


def test_catalog_loads_and_splits_keep_test_tiles_and_days_apart(world):
    out, _ = world
    catalog = load_catalog(out / "catalog.yaml")
    for source in catalog.sources.values():
        for p in getattr(source, "paths", []):
            assert catalog.path(p).is_file()
    for tile in catalog.tiles:
        assert catalog.path(tile.s2).is_file() and catalog.path(tile.dem).is_file() and catalog.path(tile.scl).is_file()
    train, test = catalog.splits["train"], catalog.splits["test"]
    assert not set(train.tiles) & set(test.tiles) and train.end < test.start
    assert {s.name for s in catalog.sites} == {t.name for t in catalog.tiles}


def test_gfs_errors_grow_with_lead_and_the_oracle_beats_gfs_plus_lapse(world):
    _, scores = world
    assert np.all(np.diff(error_sd(np.asarray(C.GFS_LEADS))) > 0)
    assert sum(scores.mean.share(t) for t in TERMS) == pytest.approx(1.0)
    assert sum(scores.anomaly.share(t) for t in TERMS) == pytest.approx(1.0)
    rmse = scores.rmse()
    assert rmse["gfs_lapse_f000"] < rmse["gfs_lapse_f012"]
    assert rmse["oracle"] < rmse["gfs_lapse"]  # in total (one test tile here; the margins of demo/full: docs/world.md)
    assert rmse["space_oracle"] < 0.5 * min(rmse["space_flat"], rmse["space_lapse"])  # inside the tile


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


def test_fields_on_a_tiles_grid_equal_the_fields_at_its_points():
    from tm_weather.world.fields import WaveField

    grid = S2.TileGrid.centred(-45.9, 170.5)
    field = WaveField.draw(np.random.default_rng(0), 1.0, C.TERRAIN_SMALL_KM, hurst=1.0)
    np.testing.assert_allclose(field.on_grid(grid.lat, grid.lon), field(grid.lat, grid.lon), atol=0.01)


def test_ingest_acquisition_days_stores_every_tiles_truth_field(world, tmp_path, capsys):
    from tm_weather.cli import main
    from tm_weather.errors import EXIT_INPUT
    from tm_weather.ingest import CatalogTiles
    from tm_weather.store import Store

    out, _ = world
    shutil.copytree(out, tmp_path / "w")
    path = tmp_path / "w" / "catalog.yaml"
    assert main(["ingest", "--catalog", str(path), "--acquisition-days", "--start", "2023-02-10"]) == EXIT_INPUT
    assert "--acquisition-days" in capsys.readouterr().err
    assert main(["ingest", "--catalog", str(path), "--acquisition-days", "--quiet"]) == 0
    catalog = load_catalog(path)
    keys = set(Store(catalog.path(catalog.store)).keys("fields"))
    for name, (_, day) in CatalogTiles(catalog).grids.items():  # each tile's truth on its own acquisition day
        assert f"fields/truth_{name}/{name}/{day}" in keys, name
