"""Ingestion: the catalog's sources -> series at its sites and fields on its tiles -> the store.

For each source and each UTC day it offers in the window, the day's data is read once, then
- analyses give hourly series at the sites (`hourly/<source>/<day>`, with the day's mean/min/max) and, on the
  day a tile was acquired, the T2M field regridded onto the tile's grid (`fields/<source>/<tile>/<day>`);
- station reports are kept as reported (`stations/<source>/<day>`);
- forecasts give series at the sites by init and lead time (`forecast/<source>/<day>`).
Everything is staged first and committed only if every source was read without error (see `tm_weather.store`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr
from tqdm import tqdm

from tm_weather.catalog import Catalog, Tile
from tm_weather.errors import InputError
from tm_weather.lexicon import check_t2m
from tm_weather.series import TileGrid, covers, daily, extract_points, regrid_to_tile
from tm_weather.sources import open_source
from tm_weather.sources.base import Source
from tm_weather.sources.sentinel2 import read_s2l2a
from tm_weather.store import Store, Transaction, partition_key
from tm_weather.times import day_window, utc_time

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What one ingest run did: partitions written, partitions already up to date, sources with no data."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


@dataclass
class CatalogTiles:
    """The catalog's tiles with their grids and acquisition days, read once per run."""

    catalog: Catalog

    @cached_property
    def grids(self) -> dict[str, tuple[TileGrid, np.datetime64]]:
        return {t.name: self._read(t) for t in self.catalog.tiles}

    def _read(self, tile: Tile) -> tuple[TileGrid, np.datetime64]:
        time = np.datetime64(tile.time.replace(tzinfo=None), "ns") if tile.time else None
        s2 = read_s2l2a(self.catalog.path(tile.s2), time=time, boa_add_offset=tile.boa_add_offset)
        return s2.grid, s2.time.astype("datetime64[D]")

    def acquired_on(self, day: np.datetime64) -> list[tuple[str, TileGrid]]:
        return [(name, grid) for name, (grid, d) in self.grids.items() if d == day]


def ingest(
    catalog: Catalog,
    sources: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: bool = True,
) -> IngestReport:
    """Ingest `sources` (default: all in the catalog) for UTC days `start`..`end` (inclusive) into the store."""
    names = list(sources or catalog.sources)
    for name in names:
        if name not in catalog.sources:
            raise InputError("--source", name, f"one of the catalog's sources {sorted(catalog.sources)}")
    opened = {name: open_source(name, catalog.sources[name], catalog) for name in names}
    for name, source in opened.items():
        if source.remote and (start is None or end is None):
            raise InputError("--start/--end", name, "an explicit window for a source fetched from a server")
    for where, day in (("--start", start), ("--end", end)):
        if day is not None:
            utc_time(day, where, "value")
    lo, hi = day_window(start, end)

    report = IngestReport()
    tiles = CatalogTiles(catalog)
    store = Store(catalog.path(catalog.store))
    with store.writer() as txn:
        for name, source in opened.items():
            times = source.times(lo, hi)
            if len(times) == 0:
                report.empty.append(name)
                continue
            days = pd.DatetimeIndex(times).floor("D")
            for day in tqdm(days.unique(), desc=f"ingest {name}", unit="day", disable=not progress):
                data = check_t2m(source(times[days == day]), name)
                stage_day(txn, catalog, tiles, source, np.datetime64(day, "D"), data)
        report.written = sorted(txn.staged)
        report.unchanged = sorted(txn.unchanged)
    return report


def ingest_windows(catalog: Catalog, sources: Sequence[str] | None, windows: list[tuple[dt.date | None, dt.date | None]],
                   progress: bool = True) -> IngestReport:
    """`ingest` over each (start, end) window in turn, as one report; a source is empty when it was in every window."""
    reports = [ingest(catalog, sources, start, end, progress) for start, end in windows]
    return IngestReport(written=[k for r in reports for k in r.written], unchanged=[k for r in reports for k in r.unchanged],
                        empty=[n for n in reports[0].empty if all(n in r.empty for r in reports)])


def acquisition_days(catalog: Catalog) -> list[dt.date]:
    """Each UTC day on which one of the catalog's tiles was acquired, oldest first."""
    return sorted({np.datetime64(day, "D").item() for _, day in CatalogTiles(catalog).grids.values()})


def stage_day(
    txn: Transaction, catalog: Catalog, tiles: CatalogTiles, source: Source, day: np.datetime64, data: xr.DataArray
) -> None:
    """Stage one day of one source, by the form of its data (`tm_weather.sources.base`): series at the sites, and
    fields on the tiles acquired that day."""
    attrs = {"source": source.name, "units": "K"}
    if "station" in data.dims:
        key = partition_key("stations", source.name, day)
        txn.put(key, txn.merged(key, data.transpose("station", "time").to_dataset().assign_attrs(attrs)))
        return
    inside = [s for s, ok in zip(catalog.sites, covers(data, [s.lat for s in catalog.sites], [s.lon for s in catalog.sites]))
              if ok]  # regional sources: only the sites they cover
    if inside:
        sites = extract_points(data, [s.lat for s in inside], [s.lon for s in inside], [s.name for s in inside])
        if "lead_time" in data.dims:
            key = partition_key("forecast", source.name, day)
            new = sites.transpose("site", "init_time", "lead_time").to_dataset().assign_attrs(attrs)
            txn.put(key, txn.merged(key, new))
        else:
            key = partition_key("hourly", source.name, day)
            hours = txn.merged(key, sites.transpose("site", "time").to_dataset()[["t2m"]])
            days = daily(hours["t2m"])  # from all the day's stored hours, not only this run's
            txn.put(key, xr.merge([hours, days], join="exact", compat="no_conflicts").assign_attrs(attrs | days.attrs))
    if "lead_time" not in data.dims:
        for tile_name, grid in tiles.acquired_on(day):
            lon, lat = grid.corners_lonlat()
            if not covers(data, lat, lon).all():
                log.info("%s does not cover tile %s; no field stored", source.name, tile_name)
                continue
            key = partition_key("fields", source.name, day, tile=tile_name)
            field_ = regrid_to_tile(data, grid.crs, grid.transform, grid.shape)
            field_ = field_.to_dataset().assign_attrs(attrs | {"tile": tile_name})
            txn.put(key, txn.merged(key, field_))
