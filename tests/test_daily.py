"""The daily job on the tiny benchmark world: idempotent re-runs, the lock, network failures with retries and a
partial run, catch-up of missed days, the run log."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time

import pytest
import requests

from daily_support import NO_MODEL, small_catalog, tiny_world
from tm_weather.cli import main
from tm_weather.errors import EXIT_INPUT, EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL
from tm_weather.jobs.daily import Job, Retry, run_job, tree_digest
from tm_weather.jobs.runlog import RunLog, completed, read_log
from tm_weather.store import Store

DAY = dt.date(2023, 2, 11)
#: A process that holds the daily job's lock of the folder argv[1] for a minute.
HOLD_LOCK = ("import sys, time\nfrom pathlib import Path\nfrom tm_weather.jobs.daily import job_lock\n"
             "with job_lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory)


def test_second_run_changes_nothing(world, tmp_path, capsys):
    catalog = small_catalog(world, tmp_path, cycles=[0, 12], fxx=[0, 1, 2])
    no_model = ["--checkpoint", str(NO_MODEL)]
    assert main(["daily", "--catalog", str(catalog), "--date", DAY.isoformat(), *no_model]) == EXIT_OK
    first = capsys.readouterr().out
    store = Store(tmp_path / "store.zarr")
    digest = tree_digest(store.path)
    assert "2023-02-11: done" in first and digest in first
    assert "forecast/gfs/2023-02-11" in store.keys() and "fields/truth_tile02/tile02/2023-02-11" in store.keys()
    assert (tmp_path / "daily" / "tokens" / "2023-02-11" / "truth_tile02.nc").exists()

    assert main(["daily", "--catalog", str(catalog), "--date", DAY.isoformat(), *no_model]) == EXIT_OK
    assert "2023-02-11: nothing to do" in capsys.readouterr().out
    assert tree_digest(store.path) == digest
    ends = [e for e in read_log(tmp_path / "daily" / "log", DAY) if e["event"] == "end"]
    assert [e["status"] for e in ends] == ["done", "nothing to do"] and ends[0]["store_sha256"] == digest
    stages = {e["event"]: e.get("status") for e in read_log(tmp_path / "daily" / "log", DAY)}
    assert stages["generate"] == "skipped: no model" and stages["verify"] == "skipped: no generations for 2023-02-10"


def test_a_second_job_exits_at_once_while_one_runs(world, tmp_path, capsys):
    catalog = small_catalog(world, tmp_path, sources=("truth_tile02",))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "daily")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.perf_counter()
        assert main(["daily", "--catalog", str(catalog), "--date", DAY.isoformat()]) == EXIT_LOCKED
        assert time.perf_counter() - start < 5
        assert "another tm-weather daily job is running" in capsys.readouterr().out
        assert not (tmp_path / "store.zarr").exists()  # nothing written
    finally:
        holder.kill()
        holder.wait()


def test_network_down_retries_then_partial(world, tmp_path, monkeypatch):
    """A day not in the cache, the network failing at the transport: each GFS source is tried `attempts` times
    with doubling waits, then counted down; the run is partial and names every missing run; the sources read
    from files go in."""
    calls = []

    def refuse(self, request, **kwargs):
        calls.append(request.url)
        raise requests.ConnectionError(f"connection refused: {request.url}")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    day = dt.date(2023, 2, 10)  # files of this day are removed from a copy of the cache below
    catalog = small_catalog(world, tmp_path, sources=("gfs", "truth_tile00"), cycles=[0, 6], fxx=[0, 1],
                            priority=["aws"])
    text = catalog.read_text().replace(str(world / "cache"), str(tmp_path / "empty-cache"))
    catalog.write_text(text)
    waits = []
    job = Job.from_catalog(catalog, retry=Retry(attempts=3, backoff_s=1.5), sleep=waits.append, checkpoint=NO_MODEL)
    [result] = run_job(job, day)
    assert result.exit_code == EXIT_PARTIAL and result.status == "partial"
    assert waits == [1.5, 3.0]  # one file tried 3 times, then the source is down
    assert calls and all("amazonaws" in url for url in calls)
    missing = [(m["run"], m["fxx"]) for m in result.missing]
    assert missing == [("2023-02-10T00:00", [0, 1]), ("2023-02-10T06:00", [0, 1])]
    assert all(r.startswith("source down") for m in result.missing for r in m["reason"])
    events = read_log(job.out / "log", day)
    assert [e["attempt"] for e in events if e["event"] == "retry"] == [1, 2]
    assert Store(tmp_path / "store.zarr").keys() == ["hourly/truth_tile00/2023-02-10"]
    assert [e["exit"] for e in events if e["event"] == "end"] == [EXIT_PARTIAL]
    assert not completed(job.out / "log", day)


def test_offline_reads_the_cache_only(world, tmp_path, no_network):
    catalog = small_catalog(world, tmp_path, sources=("gfs_analysis",), cycles=[0, 18], priority=["aws"])
    job = Job.from_catalog(catalog, offline=True, sleep=pytest.fail, checkpoint=NO_MODEL)
    [done] = run_job(job, DAY)
    assert done.exit_code == EXIT_OK and "hourly/gfs_analysis/2023-02-11" in done.changed
    [missing] = run_job(job, dt.date(2023, 3, 1))  # not in the cache: missing at once, no retry, no network
    assert missing.exit_code == EXIT_PARTIAL and len(missing.missing) == 2
    assert "priority [] means cache only" in missing.missing[0]["reason"][0]


def test_a_truncated_cached_subset_is_cut_again(world, tmp_path):
    """Herbie cuts a subset in place: a kill can leave it truncated in the cache; the next run cuts it again."""
    catalog = small_catalog(world, tmp_path, sources=("gfs_analysis",), cycles=[6])
    job = Job.from_catalog(catalog, offline=True, checkpoint=NO_MODEL)
    run_job(job, DAY)
    [subset] = (world / "cache" / "gfs" / "20230211").glob("subset_*__gfs.t06z.pgrb2.0p25.f000")
    whole = subset.read_bytes()
    subset.write_bytes(whole[: len(whole) // 2])
    shutil.rmtree(tmp_path / "store.zarr")
    [again] = run_job(job, DAY)
    assert again.status == "done" and "hourly/gfs_analysis/2023-02-11" in again.changed
    assert subset.read_bytes() == whole


def test_catch_up_runs_missed_days_oldest_first(world, tmp_path):
    catalog = small_catalog(world, tmp_path, sources=("truth_tile01",))
    job = Job.from_catalog(catalog, checkpoint=NO_MODEL)
    [first] = run_job(job, dt.date(2023, 2, 11))
    assert first.status == "done"
    results = run_job(job, dt.date(2023, 2, 12), catch_up=2)
    assert [r.day for r in results] == [dt.date(2023, 2, 10), dt.date(2023, 2, 12)]  # 02-11 already done
    assert all(r.status == "done" for r in results)
    assert Store(tmp_path / "store.zarr").summary() == [("hourly", "truth_tile01", 3, "2023-02-10", "2023-02-12")]
    assert [r.status for r in run_job(job, dt.date(2023, 2, 12), catch_up=2)] == ["nothing to do"]


def test_run_log_survives_a_line_cut_short(tmp_path):
    log = RunLog(tmp_path, DAY, run="r1")
    log.write("start", pid=1)
    with open(log.path, "a") as f:
        f.write('{"ts": "2023-02-11T00:00:00Z", "run": "r1", "eve')  # killed while writing
    RunLog(tmp_path, DAY, run="r2").write("end", exit=0, status="done")
    lines = log.path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["run"] == "r2"
    assert [e["event"] for e in read_log(tmp_path, DAY)] == ["start", "end"]
    assert completed(tmp_path, DAY) and not completed(tmp_path, DAY - dt.timedelta(days=1))


def test_the_generate_stage_uses_the_checkpoints_regression_and_the_latest_gfs_runs(world, tmp_path, no_network):
    """With a checkpoint (its regression beside it): each tile's field at the generate hour, from the catalog's GFS
    (its 00Z and 12Z runs: hours after 05Z use leads up to 11 h), the regression named in the file."""
    from model_support import REGRESSION_NAME, write_small_checkpoint
    from tm_weather.tokenizers.registry import sha256
    import xarray as xr

    folder = tmp_path / "ck"
    folder.mkdir()
    checkpoint = write_small_checkpoint(folder, shipped_tokenizers=True)
    catalog = small_catalog(world, tmp_path, sources=("gfs",), cycles=[0, 12], priority=[])
    job = Job.from_catalog(catalog, offline=True, sleep=pytest.fail, checkpoint=checkpoint)
    [done] = run_job(job, DAY)
    assert done.exit_code == EXIT_OK, done.missing
    stages = {e["event"]: e for e in read_log(job.out / "log", DAY)}
    assert stages["generate"]["status"] == "written" and stages["generate"]["tiles"] == ["tile02"]
    ds = xr.open_dataset(job.out / "generated" / DAY.isoformat() / "tile02.nc")
    assert [int(x) for x in ds.attrs["input_gfs_leads_h"].split()] == list(range(12)) * 2
    assert ds.attrs["regression_sha256"] == sha256(folder / REGRESSION_NAME)
    assert ds["t2m_regression_mean"].shape == (224, 224) and "gfs" in ds.attrs["conditioned_on"].split()


def test_the_job_refuses_a_tokenizer_the_model_was_not_trained_with(world, tmp_path, capsys):
    """The tokens it writes are the model's inputs: a shipped `t2m_hourly` whose sha256 differs from the one the
    checkpoint records is an error naming the file, not silently other tokens."""
    from model_support import write_small_checkpoint

    folder = tmp_path / "ck"
    folder.mkdir()
    checkpoint = write_small_checkpoint(folder)  # trained with untrained tokenizers: other sha256s
    catalog = small_catalog(world, tmp_path, sources=("truth_tile02",))
    code = main(["daily", "--catalog", str(catalog), "--date", DAY.isoformat(), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT and "t2m_hourly.safetensors" in err and "sha256" in err
    assert not (tmp_path / "daily" / "tokens" / DAY.isoformat()).exists()
