"""Scale-out of ingestion on dask.distributed: a 2-worker LocalCluster writes the store the serial run writes."""

from __future__ import annotations

import datetime as dt

import pytest

from daily_support import small_catalog, tiny_world
from tm_weather.catalog import load_catalog
from tm_weather.ingest import ingest
from tm_weather.jobs.cluster import ingest_distributed
from tm_weather.jobs.daily import tree_digest
from tm_weather.store import Store

START, END = dt.date(2023, 2, 10), dt.date(2023, 2, 12)
SOURCES = ("gfs", "gfs_analysis", "truth_tile01", "truth_tile02", "truth_tile03", "isd")
TILES = ("tile01", "tile02", "tile03")


@pytest.mark.slow
def test_local_cluster_store_equals_serial(tmp_path_factory, tmp_path):
    world = tiny_world(tmp_path_factory)
    serial = small_catalog(world, tmp_path / "serial", SOURCES, cycles=[0, 12], fxx=[0, 3], tiles=TILES)
    cluster = small_catalog(world, tmp_path / "cluster", SOURCES, cycles=[0, 12], fxx=[0, 3], tiles=TILES)

    expected = ingest(load_catalog(serial), None, START, END, progress=False)
    report = ingest_distributed(cluster, START, END, workers=2)

    assert report.written == expected.written
    assert len(report.written) == 6 * 3 + 3 * 2  # 6 sources x 3 days; fields: 3 tiles x 2 sources
    assert sorted({k.split("/")[-1] for k in report.written}) == ["2023-02-10", "2023-02-11", "2023-02-12"]
    assert tree_digest(tmp_path / "cluster" / "store.zarr") == tree_digest(tmp_path / "serial" / "store.zarr")
    assert Store(tmp_path / "cluster" / "store.zarr").summary() == Store(tmp_path / "serial" / "store.zarr").summary()
