"""The zarr (v3) store: layout, idempotent writes, crash safety, one writer at a time.

Layout (every leaf is a zarr group written whole, one UTC day of one source):

    <store>/zarr.json                               root group with consolidated metadata
    <store>/hourly/<source>/<YYYY-MM-DD>            t2m (site, time) hourly at the catalog's sites,
                                                    t2m_mean, t2m_min, t2m_max, n_hours (site): the day
    <store>/stations/<source>/<YYYY-MM-DD>          t2m (station, time) station reports as reported
    <store>/forecast/<source>/<YYYY-MM-DD>          t2m (site, init_time, lead_time), runs started that day
    <store>/fields/<source>/<tile>/<YYYY-MM-DD>     t2m (time, y, x) on the tile's grid, with its CRS

Why day partitions, not one array appended in place: a partition is written complete in a staging folder beside
the store, then moved into place with `os.rename`, which is atomic on one file system. A reader therefore sees
a day either as it was or as it is now, never half-written; a killed run leaves only staging litter that the
next writer removes. Re-ingesting a day merges the new values into the old (new values win where both exist)
and writes nothing when the result is identical, so repeated runs leave the store's bytes unchanged.

A run stages every partition first and commits them only when all its inputs were read without error, so bad
input leaves the store exactly as it was. Replacing a partition moves the old one to a journal first
(`<name>.origin` records where it came from); `recover()` puts back any partition whose replacement was cut
short by a kill. Writers hold an exclusive `fcntl` lock on `.<store>.lock`; a second writer fails at once
with `StoreLocked`. A first run that stores nothing (bad input) removes its lock file, so it leaves no trace.

A store only ever touches what it wrote: its root `zarr.json` carries the `tm_weather_store` marker, a writer
refuses a path that is a file or a non-empty folder without that marker (`InputError`, before anything is
created), and recovery removes only zarr's own staging names (`<name>.<32 hex>.partial`) inside a marked store.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from tm_weather.errors import InputError
from tm_weather.outputs import check_output

KINDS = ("hourly", "stations", "forecast", "fields")
_TIME_DIMS = {"hourly": "time", "stations": "time", "forecast": "init_time", "fields": "time"}
_MARKER = "tm_weather_store"
_STORE_ATTRS = {_MARKER: 1, "layout": "<kind>/<source>[/<tile>]/<YYYY-MM-DD>, see tm_weather.store"}
#: The temporary files zarr's LocalStore writes before an atomic rename (`path.with_suffix(".<uuid4 hex>.partial")`).
_ZARR_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial$")


class StoreLocked(RuntimeError):
    """Another process holds the store's write lock."""


def partition_key(kind: str, source: str, day: np.datetime64, tile: str | None = None) -> str:
    """The group path of one day of one source: 'hourly/era5/2019-03-01' or 'fields/era5/T1/2019-03-01'."""
    if kind not in KINDS:
        raise ValueError(f"unknown store kind {kind!r}; expected one of {KINDS}")
    if (kind == "fields") != (tile is not None):
        raise ValueError("a tile is given exactly for kind 'fields'")
    date = str(np.datetime64(day, "D"))
    return "/".join(p for p in (kind, source, tile, date) if p is not None)


@dataclass
class Store:
    """A tm-weather zarr store at `path` (a local directory)."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._staging = self.path.parent / f".{self.path.name}.staging"
        self._journal = self.path.parent / f".{self.path.name}.journal"
        self._lockfile = self.path.parent / f".{self.path.name}.lock"

    # ---------------------------------------------------------------- reading
    def keys(self, kind: str | None = None) -> list[str]:
        """The committed partitions (group paths), sorted; of one `kind` if given."""
        if not (self.path / "zarr.json").exists():
            return []
        found = []
        for meta in self.path.rglob("zarr.json"):
            rel = meta.parent.relative_to(self.path).as_posix()
            parts = rel.split("/")
            depth = 4 if parts[0] == "fields" else 3
            if len(parts) == depth and parts[0] in KINDS and (kind is None or parts[0] == kind):
                found.append(rel)
        return sorted(found)

    def read_partition(self, key: str) -> xr.Dataset:
        """One partition, loaded into memory."""
        # decode_coords="all": the CRS variable named by `grid_mapping` reads back as the coordinate it was written
        # as, so a partition read and written again is identical (idempotent re-runs; see `Transaction.put`)
        with xr.open_zarr(self.path, group=key, consolidated=False, decode_coords="all") as ds:
            return ds.load()

    def read(self, kind: str, source: str, tile: str | None = None) -> xr.Dataset:
        """All days of one source (and tile) concatenated along its time dimension.

        hourly -> t2m (site, time) and the daily variables (site, date); stations -> t2m (station, time);
        forecast -> t2m (site, init_time, lead_time); fields -> t2m (time, y, x).
        """
        prefix = "/".join(p for p in (kind, source, tile) if p) + "/"
        keys = [k for k in self.keys(kind) if k.startswith(prefix) and k.count("/") == prefix.count("/")]
        if not keys:
            raise KeyError(f"{self.path}: no {kind} data for {prefix.rstrip('/')}")
        parts = [self.read_partition(k) for k in keys]
        if kind != "hourly":
            return xr.concat(parts, dim=_TIME_DIMS[kind], join="outer", data_vars="all")
        hourly = xr.concat([p[["t2m"]] for p in parts], dim="time", join="outer", data_vars="all")
        daily = xr.concat([p.drop_vars(["t2m", "time"]) for p in parts], dim="date", join="outer", data_vars="all")
        return xr.merge([hourly, daily], join="outer")

    def summary(self) -> list[tuple[str, str, int, str, str]]:
        """(kind, source[/tile], days, first day, last day) for everything stored."""
        groups: dict[tuple[str, str], list[str]] = {}
        for key in self.keys():
            *head, day = key.split("/")
            groups.setdefault((head[0], "/".join(head[1:])), []).append(day)
        return [(k, s, len(d), min(d), max(d)) for (k, s), d in sorted(groups.items())]

    def is_marked(self) -> bool:
        """True when `path` holds a root `zarr.json` written by this class (with the `tm_weather_store` marker)."""
        try:
            meta = json.loads((self.path / "zarr.json").read_text())
        except (OSError, ValueError):
            return False
        return isinstance(meta, dict) and _MARKER in (meta.get("attributes") or {})

    def check_location(self) -> None:
        """Raise `InputError` unless `path` is a tm-weather store, a new path, or an empty folder.

        A folder that holds anything else (a user's files, another zarr store) is never written into; a new
        path must lie in folders that can be written (`tm_weather.outputs.check_output`)."""
        if not self.path.exists():
            check_output(self.path, "store", folder=True)
            return
        if not self.path.is_dir():
            raise InputError(self.path, "store", "a tm-weather zarr store folder, or a new or empty folder", "a file")
        entries = [p for p in self.path.iterdir() if not _ZARR_PARTIAL.search(p.name)]
        if entries and not self.is_marked():
            raise InputError(
                self.path, "store", "a tm-weather zarr store (root zarr.json with the tm_weather_store marker), "
                "or a new or empty folder", f"a folder that is not a tm-weather store, with {len(entries)} entries (e.g. {entries[0].name!r}); "
                "nothing was written: give the store its own folder")

    # ---------------------------------------------------------------- writing
    @contextmanager
    def writer(self) -> Iterator[Transaction]:
        """Check the location, lock the store, recover from any earlier interrupted run, and yield a `Transaction`.

        The transaction commits when the block ends normally; on an exception nothing it staged is committed.
        """
        self.check_location()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lockfile, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLocked(f"{self.path}: another tm-weather run is writing this store") from None
            if not self._lockfile.exists() or not os.path.samestat(os.fstat(lock.fileno()), self._lockfile.stat()):
                raise StoreLocked(f"{self.path}: another tm-weather run just released this store; try again")
            try:
                self.recover()
                txn = Transaction(self)
                try:
                    yield txn
                except BaseException:
                    shutil.rmtree(self._staging, ignore_errors=True)
                    raise
                txn.commit()
            finally:
                if not self.is_marked():  # a first run that stored nothing leaves no lock file either (a run
                    self._lockfile.unlink()  # that opened this one meanwhile sees it is gone, above)

    def recover(self) -> None:
        """Undo what an interrupted writer left: restore journaled partitions, drop staging litter.

        Must be called with the lock held (`writer` does)."""
        if self._journal.exists():
            for origin in sorted(self._journal.glob("*.origin")):
                saved = origin.with_suffix("")
                target = self.path / origin.read_text()
                if saved.exists() and not target.exists():
                    os.rename(saved, target)  # the replacement never arrived: put the old partition back
                shutil.rmtree(saved, ignore_errors=True)
                origin.unlink()
        shutil.rmtree(self._staging, ignore_errors=True)
        if self.is_marked():
            for partial in self.path.rglob("*.partial"):  # zarr's own temp files from a killed metadata write,
                if _ZARR_PARTIAL.search(partial.name) and partial.is_file():  # by zarr's naming only
                    partial.unlink()
            self._consolidate()

    def _ensure_root(self) -> None:
        if not (self.path / "zarr.json").exists():
            zarr.open_group(self.path, mode="a", zarr_format=3, attributes=_STORE_ATTRS)

    def _consolidate(self) -> None:
        if (self.path / "zarr.json").exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "consolidated metadata is not part of the v3 spec"
                zarr.consolidate_metadata(str(self.path))


@dataclass
class Transaction:
    """The partitions one run stages; see `Store.writer`."""

    store: Store
    staged: dict[str, Path] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)

    def put(self, key: str, ds: xr.Dataset) -> None:
        """Stage `ds` as the whole new content of partition `key` (use `merged` first to keep what is there).

        Content identical to what is stored is not staged, only recorded in `unchanged`."""
        if key in self.staged:
            raise ValueError(f"partition {key} staged twice in one run")
        if (self.store.path / key / "zarr.json").exists() and ds.identical(self.store.read_partition(key)):
            self.unchanged.append(key)
            return
        tmp = self.store._staging / uuid.uuid4().hex
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _to_zarr(ds, tmp)
        self.staged[key] = tmp

    def merged(self, key: str, ds: xr.Dataset) -> xr.Dataset:
        """`ds` combined with what is stored at `key` (new values win); `ds` itself if nothing is."""
        if (self.store.path / key / "zarr.json").exists():
            return ds.combine_first(self.store.read_partition(key))
        return ds

    def commit(self) -> None:
        """Move every staged partition into place (journaling the ones replaced), then consolidate."""
        store = self.store
        if not self.staged:
            shutil.rmtree(store._staging, ignore_errors=True)
            return
        store._ensure_root()
        store._journal.mkdir(parents=True, exist_ok=True)
        for key, tmp in sorted(self.staged.items()):
            target = store.path / key
            _ensure_parent_groups(store.path, key)
            if target.exists():
                saved = store._journal / uuid.uuid4().hex
                (saved.with_suffix(".origin")).write_text(key)
                os.rename(target, saved)
                os.rename(tmp, target)
                shutil.rmtree(saved)
                saved.with_suffix(".origin").unlink()
            else:
                os.rename(tmp, target)
        shutil.rmtree(store._staging, ignore_errors=True)
        store._consolidate()


def _ensure_parent_groups(root: Path, key: str) -> None:
    """Create the zarr group nodes above partition `key` (zarr v3 has no implicit groups)."""
    parts = key.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        path = "/".join(parts[:i])
        if not (root / path / "zarr.json").exists():
            zarr.open_group(root, path=path, mode="a", zarr_format=3)


def _to_zarr(ds: xr.Dataset, path: Path) -> None:
    """Write a partition: string coordinates as variable-length UTF-8 (the dtype zarr v3 specifies)."""
    ds = ds.copy()
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    ds.to_zarr(path, mode="w-", zarr_format=3, consolidated=False)
