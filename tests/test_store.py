"""The zarr store: idempotent writes, merges, nothing committed on error, locking, recovery after a kill."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from kill_support import Run, start_forkserver
from tm_weather.store import Store, StoreLocked, partition_key


def tree_hash(path: Path) -> str:
    """sha256 over every file's relative path and bytes under `path`."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def hours(day: int, sites=("a", "b"), hours_=range(24), seed: int | None = None) -> xr.Dataset:
    t0 = np.datetime64("2019-03-01T00", "ns") + np.timedelta64(day, "D")
    times = t0 + np.array(list(hours_)) * np.timedelta64(1, "h")
    rng = np.random.default_rng(day if seed is None else seed)
    values = (270 + 10 * rng.random((len(sites), len(times)))).astype("float32")
    return xr.Dataset({"t2m": (("site", "time"), values)}, coords={"site": list(sites), "time": times})


def write_days(store: Store, days, **kw) -> list[str]:
    with store.writer() as txn:
        for d in days:
            key = partition_key("hourly", "era5", np.datetime64("2019-03-01") + np.timedelta64(d, "D"))
            txn.put(key, txn.merged(key, hours(d, **kw)))
    return sorted(txn.staged)


def test_partition_keys():
    day = np.datetime64("2019-03-02T13:00")
    assert partition_key("hourly", "era5", day) == "hourly/era5/2019-03-02"
    assert partition_key("fields", "era5", day, tile="T1") == "fields/era5/T1/2019-03-02"
    with pytest.raises(ValueError):
        partition_key("fields", "era5", day)


def test_write_read_roundtrip_and_idempotent(tmp_path):
    store = Store(tmp_path / "s.zarr")
    assert len(write_days(store, range(3))) == 3
    before = tree_hash(store.path)
    assert write_days(store, range(3)) == []  # same values again: nothing staged, bytes unchanged
    assert tree_hash(store.path) == before
    back = store.read("hourly", "era5")
    expected = xr.concat([hours(d) for d in range(3)], dim="time")
    np.testing.assert_array_equal(back["t2m"].values, expected["t2m"].values)
    assert list(back["site"].values) == ["a", "b"]
    assert store.summary() == [("hourly", "era5", 3, "2019-03-01", "2019-03-03")]
    # readable with plain xarray and consolidated metadata
    ds = xr.open_zarr(store.path, group="hourly/era5/2019-03-02", consolidated=True)
    assert ds["t2m"].shape == (2, 24)


def test_merge_keeps_old_hours_and_sites(tmp_path):
    store = Store(tmp_path / "s.zarr")
    write_days(store, [0], hours_=range(12))
    write_days(store, [0], hours_=range(12, 24), sites=("b", "c"), seed=0)
    ds = store.read("hourly", "era5")
    assert ds.sizes == {"site": 3, "time": 24}
    assert np.isnan(ds["t2m"].sel(site="c").values[:12]).all()  # c had no morning: NaN, never a fill number
    assert np.isfinite(ds["t2m"].sel(site="a").values[:12]).all()


def test_error_inside_writer_commits_nothing(tmp_path):
    store = Store(tmp_path / "s.zarr")
    write_days(store, [0])
    before = tree_hash(store.path)
    with pytest.raises(RuntimeError, match="bad input"):
        with store.writer() as txn:
            txn.put(partition_key("hourly", "era5", np.datetime64("2019-03-05")), hours(4))
            raise RuntimeError("bad input")
    assert tree_hash(store.path) == before
    assert not store._staging.exists()


def test_second_writer_is_refused(tmp_path):
    store = Store(tmp_path / "s.zarr")
    with store.writer():
        with pytest.raises(StoreLocked, match="another tm-weather run"):
            with Store(tmp_path / "s.zarr").writer():
                pass


def test_recover_restores_partition_cut_off_mid_replace(tmp_path):
    store = Store(tmp_path / "s.zarr")
    write_days(store, [0])
    before = tree_hash(store.path)
    key = "hourly/era5/2019-03-01"
    # what a kill between the two renames of a replacement leaves behind
    store._journal.mkdir(exist_ok=True)
    saved = store._journal / "abc"
    saved.with_suffix(".origin").write_text(key)
    os.rename(store.path / key, saved)
    (store._staging / "half").mkdir(parents=True)
    with store.writer():
        pass
    assert tree_hash(store.path) == before
    assert not any(store._journal.iterdir()) and not store._staging.exists()


def writer(path: str) -> None:
    """What the SIGKILL test runs (and kills): two transactions, the second merging into half the first's days."""
    store = Store(path)
    write_days(store, range(0, 12))
    write_days(store, range(6, 18), seed=None)


#: `writer` in a new interpreter, importing this checkout's `tm_weather` (not whichever one is installed).
WRITER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}, {root!r}]
    from test_store import writer
    writer({path!r})
    """
)


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_equals_uninterrupted(tmp_path):
    """8 runs killed at random moments (the daily job's test kills at 20 more), each followed by a check of
    what a reader sees; then a full re-run: the store equals a clean run's. The clean run and the killed ones are
    forked from an interpreter that has imported the store already (`kill_support`), so the kill points fall in
    the writing; the final re-run is a new interpreter."""
    clean = tmp_path / "clean.zarr"
    start_forkserver()
    t0 = time.monotonic()
    assert Run(writer, str(clean)).wait(timeout=300) == 0
    duration = time.monotonic() - t0
    expected = tree_hash(clean)

    rng = np.random.default_rng(7)
    target = tmp_path / "killed.zarr"
    killed = 0
    for _ in range(8):
        proc = Run(writer, str(target))
        time.sleep(rng.uniform(0.2, duration))
        if proc.poll() is None:
            proc.kill()
            killed += 1
        proc.wait()
        if target.exists() and (target / "zarr.json").exists():
            # whatever a reader sees now is whole days: every partition opens and has 24 hours
            store = Store(target)
            for key in store.keys():
                assert store.read_partition(key).sizes["time"] == 24
    assert killed >= 4
    script = tmp_path / "writer.py"
    here = Path(__file__).parent
    script.write_text(WRITER.format(tests=str(here), root=str(here.parent), path=str(target)))
    subprocess.run([sys.executable, str(script)], check=True, timeout=300)
    assert tree_hash(target) == expected


def _user_folder(root: Path) -> Path:
    """A folder of a user's own files, including names that look like zarr's staging files."""
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "thesis.partial").write_text("chapter 1")
    (root / "notes.txt").write_text("keep me")
    (root / "zarr.abcdefabcdefabcdefabcdefabcdefab.partial").write_text("not zarr's")
    return root


@pytest.mark.parametrize("as_cwd", [False, True])
def test_store_over_a_user_folder_is_refused_and_touches_nothing(tmp_path, monkeypatch, as_cwd):
    from tm_weather.errors import InputError

    user = _user_folder(tmp_path / "mywork")
    before = tree_hash(tmp_path)
    if as_cwd:  # `store: .` in a catalog kept in the user's folder
        monkeypatch.chdir(user)
        store = Store(Path("."))
    else:
        store = Store(user)
    with pytest.raises(InputError, match="not a tm-weather store") as e:
        write_days(store, [0])
    assert "mywork" in str(e.value) or as_cwd
    assert tree_hash(tmp_path) == before  # every user file there, nothing added: no lock, no staging, no zarr.json


def test_store_path_that_is_a_file_is_refused(tmp_path):
    from tm_weather.errors import InputError

    f = tmp_path / "data.zarr"
    f.write_text("a file")
    before = tree_hash(tmp_path)
    with pytest.raises(InputError, match="a file"):
        write_days(Store(f), [0])
    assert tree_hash(tmp_path) == before


def test_recovery_removes_only_zarrs_own_partials(tmp_path):
    store = Store(tmp_path / "s.zarr")
    write_days(store, [0])
    ours = store.path / "hourly" / "zarr.0123456789abcdef0123456789abcdef.partial"
    ours.write_text("{")
    theirs = store.path / "hourly" / "thesis.partial"
    theirs.write_text("a user's file dropped into the store")
    write_days(store, [1])
    assert not ours.exists() and theirs.exists()
    assert len(store.keys("hourly")) == 2


def test_empty_folder_becomes_a_store(tmp_path):
    (tmp_path / "new").mkdir()
    store = Store(tmp_path / "new")
    assert len(write_days(store, [0])) == 1 and store.is_marked()
