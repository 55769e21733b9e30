"""Crash safety: the daily job killed with SIGKILL at random points, then run again, leaves the store exactly as an
uninterrupted run does (same bytes), with no duplicated or missing times. The reference run and the killed runs
are forked from an interpreter that has imported the job already (`kill_support`), so each starts its work at
once, the kill points (timed from the reference's pace) fall in it and the test can afford many; the final re-run
is `tm-weather daily` in a new interpreter, and must write the reference's bytes too."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from daily_support import NO_MODEL, small_catalog, tiny_world
from kill_support import Run, cli
from tm_weather.jobs.daily import tree_digest
from tm_weather.jobs.runlog import read_log
from tm_weather.store import Store

KILLS = 20
DAY = "2023-02-11"
#: The `tm-weather daily` command itself, parsed without importing the other commands (a faster start).
JOB = ("import sys, argparse\nfrom tm_weather.commands import daily\np = argparse.ArgumentParser()\n"
       "daily.add_parser(p.add_subparsers())\na = p.parse_args(sys.argv[1:])\nsys.exit(a.func(a))")


def _args(catalog) -> list[str]:
    return ["daily", "--catalog", str(catalog), "--date", DAY, "--offline", "--checkpoint", str(NO_MODEL)]


def _job(catalog) -> list[str]:
    return [sys.executable, "-c", JOB, *_args(catalog)]


def _catalog(world, out):
    return small_catalog(world, out, sources=("gfs", "gfs_analysis", "truth_tile02"), cycles=[0, 12], fxx=[0, 1])


def _starts(out) -> int:
    """How many runs have logged their start (the job's work begins there, after Python's imports)."""
    log = out / "daily" / "log" / f"{DAY}.jsonl"
    return log.read_text().count('"event": "start"') if log.exists() else 0


def _seconds(first: dict, then: dict) -> float:
    """Seconds between two run-log events."""
    return (dt.datetime.fromisoformat(then["ts"][:-1]) - dt.datetime.fromisoformat(first["ts"][:-1])).total_seconds()


def _last_run(out) -> str:
    return read_log(out / "daily" / "log", dt.date.fromisoformat(DAY))[-1]["run"]


def _contents(store: Store) -> dict:
    """Every (kind, source) of the store read whole, checked for duplicated times."""
    out = {}
    for kind, source, *_ in store.summary():
        data = store.read(kind, *source.split("/"))
        for dim in ("time", "init_time"):
            if dim in data.dims:
                assert np.unique(data[dim].values).size == data.sizes[dim], f"{kind}/{source}: repeated {dim}"
        out[(kind, source)] = data
    return out


def _run_until(job: Run, out, started: int, seconds: float) -> bool:
    """Let `job` work `seconds` after it logged its start, then SIGKILL it; False if it finished first."""
    while _starts(out) == started:
        if job.poll() is not None:
            return False
        time.sleep(0.01)
    try:
        job.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        job.send_signal(signal.SIGKILL)
        job.wait()
        return True


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun(tmp_path_factory, tmp_path):
    world = tiny_world(tmp_path_factory)
    reference = _catalog(world, tmp_path / "reference")
    assert Run(cli, _args(reference)).wait() == 0
    log = {e["event"]: e for e in read_log(tmp_path / "reference" / "daily" / "log", dt.date.fromisoformat(DAY))}
    expected = Store(tmp_path / "reference" / "store.zarr")
    expected_contents = _contents(expected)
    assert {k for k, _ in expected_contents} == {"forecast", "hourly", "fields"}

    out = tmp_path / "killed"
    catalog = _catalog(world, out)
    # The reference's tokens: the killed runs then find the tokens of a complete store up to date and skip the
    # tokenizer, so the kill points fall where the store is written (fetch, ingest, commit), and the test is fast.
    shutil.copytree(tmp_path / "reference" / "daily" / "tokens", out / "daily" / "tokens")
    rng = random.Random(20231)
    kills = finished = 0
    work = _seconds(log["start"], log["tokenize"])  # kill points: uniform over the fetch and ingest work
    while kills < KILLS:
        job = Run(cli, _args(catalog))
        if _run_until(job, out, _starts(out), rng.uniform(0, work)):
            kills += 1
            continue
        # the run finished before its kill point: the store must be complete; start again from an empty store
        assert job.returncode == 0
        assert tree_digest(out / "store.zarr") == tree_digest(expected.path)
        finished += 1
        runs = [e for e in read_log(out / "daily" / "log", dt.date.fromisoformat(DAY)) if e["run"] == _last_run(out)]
        work = _seconds(runs[0], runs[-1])  # this store's own pace: kill points stay within a run's work
        shutil.rmtree(out / "store.zarr")

    final = subprocess.run(_job(catalog), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert tree_digest(out / "store.zarr") == tree_digest(expected.path)
    contents = _contents(Store(out / "store.zarr"))
    assert contents.keys() == expected_contents.keys()
    assert all(contents[k].identical(expected_contents[k]) for k in contents)
    assert not (out / ".store.zarr.staging").exists()  # no litter left by the killed runs
    print(f"{kills} kills, {finished} runs finished before their kill point; fetch and ingest take {work:.2f} s")
