"""Ingestion over many days and sites on dask.distributed: a `LocalCluster` by default, or the scheduler of a
real cluster (`address`, e.g. "tcp://10.0.0.5:8786"):

    python -m tm_weather.jobs.cluster --catalog C --start D1 --end D2 [--scheduler ADDRESS] [--workers N]

The store has one writer: the client. It takes the store's lock (`Store.writer`) for the whole run, sends one task
per (source, UTC day) to the workers, and stages what they return; the transaction commits when every task is done,
exactly as `tm_weather.ingest.ingest` does in one process. A worker reads the source for its day and extracts the
series at the sites and the fields on the tiles with the same code as the serial ingest (`ingest.stage_day`),
merged with what the store already holds (reading is safe: nothing is committed while the client holds the lock),
and returns the partitions as datasets instead of staging them. So the store a cluster writes is the store the
serial run writes, byte for byte.

Workers are separate processes started by dask (spawned, not forked); each imports tm_weather first (pyproj
before eccodes) when it unpickles its first task.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from dask.distributed import Client, LocalCluster, as_completed

from tm_weather.catalog import Catalog, load_catalog
from tm_weather.errors import InputError
from tm_weather.ingest import CatalogTiles, IngestReport, stage_day
from tm_weather.lexicon import check_t2m
from tm_weather.sources import open_source
from tm_weather.store import Store, Transaction
from tm_weather.times import day_window, utc_time


@dataclass
class _Collector(Transaction):
    """A transaction that keeps what is staged in memory (`partitions`) instead of writing it: a worker's view."""

    partitions: dict[str, xr.Dataset] = field(default_factory=dict)

    def put(self, key: str, ds: xr.Dataset) -> None:
        self.partitions[key] = ds


@functools.cache
def _opened(catalog_path: str) -> tuple[Catalog, CatalogTiles]:
    """The catalog and its tiles, read once per worker process."""
    catalog = load_catalog(catalog_path)
    return catalog, CatalogTiles(catalog)


def extract_day(catalog_path: str, name: str, day: np.datetime64) -> dict[str, xr.Dataset]:
    """The store partitions of source `name` for UTC `day`, merged with the stored ones (runs on a worker)."""
    catalog, tiles = _opened(catalog_path)
    source = open_source(name, catalog.sources[name], catalog)
    times = source.times(*day_window(day, day))
    collector = _Collector(Store(catalog.path(catalog.store)))
    stage_day(collector, catalog, tiles, source, np.datetime64(day, "D"), check_t2m(source(times), name))
    return collector.partitions


@contextmanager
def dask_client(address: str | None = None, workers: int = 2):
    """A client of the scheduler at `address`, or of a `LocalCluster` of `workers` one-thread processes."""
    if address:
        with Client(address) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


def ingest_distributed(
    catalog_path: str | Path,
    start: dt.date,
    end: dt.date,
    sources: Sequence[str] | None = None,
    address: str | None = None,
    workers: int = 2,
) -> IngestReport:
    """`tm_weather.ingest.ingest` of `sources` (default: all) for UTC days `start`..`end`, one dask task per source
    and day; the client holds the store's lock and commits (see the module docstring)."""
    catalog_path = str(Path(catalog_path).resolve())
    catalog = load_catalog(catalog_path)
    names = list(sources or catalog.sources)
    for name in names:
        if name not in catalog.sources:
            raise InputError("--source", name, f"one of the catalog's sources {sorted(catalog.sources)}")
    lo, hi = day_window(utc_time(start, "--start", "value"), utc_time(end, "--end", "value"))
    tasks = []
    for name in names:
        times = open_source(name, catalog.sources[name], catalog).times(lo, hi)
        tasks += [(name, day) for day in pd.DatetimeIndex(times).floor("D").unique().values]
    report = IngestReport(empty=[n for n in names if not any(t[0] == n for t in tasks)])
    store = Store(catalog.path(catalog.store))
    with store.writer() as txn, dask_client(address, workers) as client:
        futures = [client.submit(extract_day, catalog_path, name, day, pure=False) for name, day in tasks]
        for _, partitions in as_completed(futures, with_results=True):
            for key, ds in partitions.items():
                txn.put(key, ds)
        report.written, report.unchanged = sorted(txn.staged), sorted(txn.unchanged)
    return report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tm_weather.jobs.cluster",
                                description="Ingest a catalog over many days on dask.distributed.")
    p.add_argument("--catalog", type=Path, required=True)
    p.add_argument("--start", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    p.add_argument("--end", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD", help="inclusive")
    p.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable; default: all)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default: 2)")
    a = p.parse_args(argv)
    report = ingest_distributed(a.catalog, a.start, a.end, a.source, a.scheduler, a.workers)
    print(f"partitions written: {len(report.written)}, already up to date: {len(report.unchanged)}")


if __name__ == "__main__":
    main()
