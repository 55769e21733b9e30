"""The model's GFS input (`tm_weather.tiles`): each hour of the valid UTC day from the latest run at most 12 h
ahead (`gfs_plan`), a run whose files are missing replaced by the one before, and the series at a tile
lapse-rate corrected to its mean DEM height (`gfs_series`), on the tiny benchmark world's GFS cache (runs at
00, 06, 12 and 18Z, leads 0-12)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import yaml

from tm_weather.catalog import load_catalog
from tm_weather.errors import InputError
from tm_weather.sources import open_source
from tm_weather.tiles import GFS_MAX_LEAD_H, GFSInput, gfs_fields, gfs_or_none, gfs_plan, gfs_series, read_tile
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS

DAY = np.datetime64("2023-02-10")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "tiny"
    build_world(out, PRESETS["tiny"], 0)
    return out / CATALOG


def cache_only_copy(world, folder):
    """A copy of the world whose GFS source reads the cache only (no download of what is missing)."""
    shutil.copytree(world.parent, folder, ignore=shutil.ignore_patterns("store"))
    config = yaml.safe_load((folder / CATALOG).read_text())
    config["sources"]["gfs"]["priority"] = []
    (folder / CATALOG).write_text(yaml.safe_dump(config))
    catalog = load_catalog(folder / CATALOG)
    return catalog, open_source("gfs", catalog.sources["gfs"], catalog)


def hours_of(plan):
    return [(str(run)[11:13], lead) for run, lead in plan]


def test_plan_takes_the_latest_run_each_hour(world, tmp_path, no_network):
    _, gfs = cache_only_copy(world, tmp_path / "w")
    plan = gfs_plan(gfs, DAY)
    assert len(plan) == 24 and GFS_MAX_LEAD_H == 12
    assert hours_of(plan) == [(f"{6 * (h // 6):02d}", h % 6) for h in range(24)]
    for h, (run, lead) in enumerate(plan):  # each hour's valid time: run + lead
        assert run + np.timedelta64(lead, "h") == np.datetime64(DAY, "h") + np.timedelta64(h, "h")


def test_plan_falls_back_to_the_previous_run_when_a_runs_files_are_missing(world, tmp_path, no_network):
    catalog, gfs = cache_only_copy(world, tmp_path / "w")
    gone = sorted((catalog.root / "cache" / "gfs" / "20230210").glob("gfs.t06z.*"))
    assert gone  # the test means something: the 06Z run was there
    for path in gone:
        path.unlink()
    plan = gfs_plan(gfs, DAY)
    assert hours_of(plan)[:12] == [("00", h) for h in range(12)]  # 06-11Z from the 00Z run, leads 6-11
    assert hours_of(plan)[12:] == [(f"{6 * (h // 6):02d}", h % 6) for h in range(12, 24)]
    fields, leads = gfs_fields(gfs, DAY)
    assert fields.sizes["time"] == 24 and leads.tolist() == [p[1] for p in plan]
    tile = read_tile(catalog.path(catalog.tiles[0].s2), None, name=catalog.tiles[0].name)
    series = gfs_series(gfs, {}, DAY, tile)
    assert series.lead.tolist() == list(range(12)) + list(range(6)) * 2 and np.isfinite(series.values).all()

    # at most 5 h ahead, nothing covers 06Z: the error names the hour and what was tried
    with pytest.raises(InputError, match="GFS for 2023-02-10T06Z") as e:
        gfs_plan(gfs, DAY, max_lead=5)
    assert "at most 5 h" in str(e.value) and "gfs.t06z" in str(e.value)
    assert gfs_or_none(gfs, {}, DAY, tile) is not None  # the default lead covers the gap
    # a whole day missing: no GFS input (logged), not a crash
    shutil.rmtree(catalog.root / "cache" / "gfs" / "20230211")
    assert gfs_or_none(gfs, {}, np.datetime64("2023-02-11"), tile) is None
    assert gfs_or_none(None, {}, DAY, tile) is None


def test_gfs_series_is_lapse_corrected_to_the_tiles_mean_dem(world, no_network):
    """With a DEM: GFS at the centre - 6.5 K/km x (DEM mean - GFS orography at the centre); without: plain GFS."""
    from tm_weather.series import extract_points

    catalog = load_catalog(world)
    entry = catalog.tiles[0]
    tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), name=entry.name)
    gfs = open_source("gfs", catalog.sources["gfs"], catalog)
    fields, leads = gfs_fields(gfs, DAY)
    plain = extract_points(fields, [tile.lat], [tile.lon], [tile.name]).transpose("site", "time").values[0]
    first = gfs_plan(gfs, DAY)[0][0]
    height = float(extract_points(gfs.orography(first), [tile.lat], [tile.lon], ["c"]).values[0])
    assert abs(float(tile.dem.mean()) - height) > 1  # the test means something: the tile is off GFS's height
    cache: dict = {}
    series = gfs_series(gfs, cache, DAY, tile)
    assert isinstance(series, GFSInput) and series.values.dtype == np.float32
    np.testing.assert_allclose(series.values, plain - 0.0065 * (tile.dem.mean() - height), atol=1e-4)
    np.testing.assert_array_equal(series.lead, leads)
    no_dem = gfs_series(gfs, cache, DAY, replace(tile, dem=None))
    np.testing.assert_allclose(no_dem.values, plain, atol=1e-5)
    assert 250 < float(plain.mean()) < 290  # Bavaria in February


def test_gfs_input_validates_its_shape_and_units():
    ok = GFSInput(np.full(24, 280, np.float32), np.zeros(24, np.int64))
    assert ok.values.shape == ok.lead.shape == (24,)
    for values, lead in [(np.zeros(23), np.zeros(24)), (np.zeros(24), np.zeros(25)), (np.zeros((2, 24)), np.zeros(24))]:
        with pytest.raises(ValueError, match="24 values and 24 leads"):
            GFSInput(values, lead)
    with pytest.raises(InputError, match="GFS input: t2m values: expected kelvin"):
        GFSInput(np.full(24, 7.0, np.float32), np.zeros(24, np.int64))  # deg C


def test_the_gfs_input_is_the_source_named_gfs_else_the_only_one_of_its_kind(tmp_path):
    """A user's catalog may name its forecast otherwise: it is still the model's GFS input, and two forecasts
    without one named `gfs` are an error, not a silent run without GFS."""
    from tm_weather.catalog import Catalog
    from tm_weather.sources.base import OrographySource
    from tm_weather.tiles import gfs_source

    forecast = {"kind": "gfs", "cycles": [0, 12], "fxx": [0, 6]}
    stations = {"kind": "isd", "paths": ["isd/a.txt"]}
    catalog = lambda sources: Catalog(root=tmp_path, store="s.zarr", cache_dir="cache", sources=sources)  # noqa: E731
    assert gfs_source(catalog({"truth": stations})) is None
    assert isinstance(gfs_source(catalog({"noaa_gfs": forecast, "truth": stations})), OrographySource)
    assert isinstance(gfs_source(catalog({"gfs": forecast, "backup": forecast})), OrographySource)
    with pytest.raises(InputError, match="2 of kind gfs: a, b"):
        gfs_source(catalog({"a": forecast, "b": forecast}))
    with pytest.raises(InputError, match="sources.gfs.*kind: isd"):
        gfs_source(catalog({"gfs": stations}))
