"""The scheduled daily conditioning job (`tm-weather daily`, docs/operations.md).

For each UTC day, oldest first, one run does, logging every step to the day's JSON-lines run log
(`tm_weather.jobs.runlog`):

1. fetch: every file of the day's runs of the Herbie-backed sources (GFS f000..f012 of the 00/06/12/18Z runs,
   the GFS analysis, URMA/RTMA, NBM) into the catalog's cache. The cache is read first, so a day already fetched
   needs no network. A network error is retried with exponential backoff (`Retry`); when the retries are spent the
   source counts as down for the rest of the run and its remaining files as missing. A cached subset that does
   not decode (Herbie writes subsets in place, so a killed run can leave a truncated one) is removed and cut again.
2. ingest: each source through `tm_weather.ingest.ingest`, one source at a time so a bad source loses only its
   own data; a GFS source that lacks some runs is ingested with the runs it has (the store merges the rest in on
   a later run).
3. tokenize: the day's complete hourly windows (24 h) and daily windows (the tokenizer's length, ending that
   day) of every hourly series in the store, with the shipped FSQ tokenizers -> `<out>/tokens/<day>/<source>.nc`.
4. generate: each catalog tile's T2M field at `GENERATE_HOUR` UTC with the generator, through the library call
   `tm-weather generate` makes (`api.generate_one_tile`) -> `<out>/generated/<day>/<tile>.nc`; "skipped: no
   model" when there is no checkpoint.
5. verify: the previous day's generations against the truth now stored (`verify.run.verify`, as `tm-weather
   verify`) ->
   `<out>/verify/<previous day>/`.

Every step writes only what differs from what is there (the store compares partitions; output files are
written beside and renamed into place), so a second run of a day does nothing. The whole job holds an exclusive
lock (`<out>/.daily.lock`): a second job exits at once with `EXIT_LOCKED`. A day with missing inputs ends
"partial" (`EXIT_PARTIAL`), naming each missing file in its log; running it again later fills the gaps.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
import xarray as xr
import yaml

from tm_weather.catalog import Catalog, load_catalog
from tm_weather.errors import EXIT_FAILURE, EXIT_INPUT, EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL, InputError
from tm_weather.ingest import ingest
from tm_weather.jobs.runlog import RunLog, completed
from tm_weather.outputs import atomic_file, check_output
from tm_weather.sources import open_sources
from tm_weather.sources.base import OrographySource, RunSource
from tm_weather.store import Store, StoreLocked
from tm_weather.times import day_window
from tm_weather.shipped import CHECKPOINT_DIR, TOKENIZER_DIR

log = logging.getLogger(__name__)

#: UTC hour of the generated fields.
GENERATE_HOUR = 12


@dataclass(frozen=True)
class Retry:
    """`attempts` tries per file on network errors, waiting `backoff_s`, 2 `backoff_s`, 4 `backoff_s`... between."""

    attempts: int = 3
    backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_s < 0:
            raise InputError("--retries/--backoff", "value", "attempts >= 1 and backoff >= 0", str(self))


@dataclass
class Job:
    """One invocation: the catalog (its path too, for the `generate` and `verify` commands), the output folder,
    retry policy, the transformer checkpoint and the `sleep` used between retries (tests pass their own)."""

    catalog_path: Path
    catalog: Catalog
    out: Path
    retry: Retry = field(default_factory=Retry)
    checkpoint: Path | None = None
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_catalog(cls, catalog_path: Path, out: Path | None = None, offline: bool = False, **kw) -> Job:
        """The job for a catalog file; `out` defaults to `daily/` beside the store; `offline`: cache only."""
        catalog = load_catalog(catalog_path)
        if offline:
            catalog = cache_only(catalog)
        out = Path(out) if out else default_out(catalog)
        Store(catalog.path(catalog.store)).check_location()
        check_output(catalog.path(catalog.cache_dir), f"{catalog_path}: cache_dir", folder=True)  # Herbie writes there
        check_output(out, "--out", folder=True)
        return cls(Path(catalog_path), catalog, out, **kw)

    @property
    def store(self) -> Store:
        return Store(self.catalog.path(self.catalog.store))


@dataclass
class DayResult:
    """What a day's run changed (store partitions and output files) and what it could not get."""

    day: dt.date
    changed: list[str] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "partial" if self.missing else ("done" if self.changed else "nothing to do")

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.missing else EXIT_OK


class SourceDown(Exception):
    """A source still failed with network errors after every retry."""


def default_out(catalog: Catalog) -> Path:
    """`daily/` beside the catalog's store."""
    return catalog.path(catalog.store).parent / "daily"


def cache_only(catalog: Catalog) -> Catalog:
    """`catalog` with every Herbie-backed source (a config with a `priority`) reading the cache only
    (`priority: []`)."""
    sources = {name: cfg.model_copy(update={"priority": []}) if "priority" in type(cfg).model_fields else cfg
               for name, cfg in catalog.sources.items()}
    return catalog.model_copy(update={"sources": sources})


@contextmanager
def job_lock(out: Path) -> Iterator[None]:
    """Hold `<out>/.daily.lock` exclusively; raise `StoreLocked` at once if another job holds it."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".daily.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLocked(f"{out}: another tm-weather daily job is running") from None
        yield


def days_to_run(log_dir: Path, day: dt.date, catch_up: int) -> list[dt.date]:
    """`day` and, oldest first, those of the `catch_up` days before it whose log shows no successful run."""
    if catch_up < 0:
        raise InputError("--catch-up", "value", "0 or more days", str(catch_up))
    earlier = [day - dt.timedelta(days=n) for n in range(catch_up, 0, -1)]
    return [d for d in earlier if not completed(log_dir, d)] + [day]


def run_job(job: Job, day: dt.date, catch_up: int = 0) -> list[DayResult]:
    """Run `day` (and the missed days before it, see `days_to_run`) under the job lock."""
    with job_lock(job.out):
        return [run_day(job, d) for d in days_to_run(job.out / "log", day, catch_up)]


def run_day(job: Job, day: dt.date) -> DayResult:
    """All the stages for one UTC day (see the module docstring), logged to the day's run log."""
    runlog = RunLog(job.out / "log", day)
    runlog.write("start", pid=os.getpid(), catalog=str(job.catalog_path), out=str(job.out))
    start = time.perf_counter()
    result = DayResult(day)
    try:
        catalog = fetch_day(job, day, runlog, result)
        ingest_day(catalog, day, runlog, result)
        tokenize_day(job, day, runlog, result)
        generate_day(job, day, runlog, result)
        verify_day(job, day - dt.timedelta(days=1), runlog, result)
    except BaseException as e:  # the log says how the run ended, whatever ended it (the CLI maps the exit status)
        code = EXIT_LOCKED if isinstance(e, StoreLocked) else EXIT_INPUT if isinstance(e, InputError) else EXIT_FAILURE
        runlog.write("end", status="failed", exit=code, error=f"{type(e).__name__}: {e}"[:300], changed=len(result.changed),
                     missing=result.missing, seconds=round(time.perf_counter() - start, 2))
        raise
    runlog.write("end", status=result.status, exit=result.exit_code, changed=len(result.changed),
                 missing=result.missing, store_sha256=tree_digest(job.store.path),
                 seconds=round(time.perf_counter() - start, 2))
    return result


# ---------------------------------------------------------------------------------------------------- fetch


def fetch_day(job: Job, day: dt.date, runlog: RunLog, result: DayResult) -> Catalog:
    """Fetch the day's files of every source read as files per run and lead (`RunSource`: the Herbie-backed ones);
    return the catalog to ingest: sources lacking some runs keep the complete ones (`cycles`), or are left out when
    none is complete or they have no `cycles`."""
    catalog = job.catalog
    sources = dict(catalog.sources)
    for name, source in open_sources(catalog).items():
        if not isinstance(source, RunSource):
            continue
        config = catalog.sources[name]
        runs = source.times(*day_window(day, day))
        complete, down = [], ""
        for run in runs:
            lacking = {}
            for fxx in source.fxx:
                if down:
                    lacking[fxx] = down
                    continue
                try:
                    _fetch(source, run, fxx, job, runlog)
                except SourceDown as e:
                    down = lacking[fxx] = f"source down: {e}"
                except InputError as e:
                    lacking[fxx] = str(e)
            if lacking:
                result.missing += [{"source": name, "run": str(run)[:16], "fxx": sorted(lacking),
                                    "reason": sorted(set(lacking.values()))}]
            else:
                complete.append(int((run - run.astype("datetime64[D]")) // np.timedelta64(1, "h")))
        runlog.write("fetch", source=name, runs=len(runs), complete=len(complete), down=bool(down))
        if len(complete) < len(runs):
            if complete and "cycles" in type(config).model_fields:
                sources[name] = config.model_copy(update={"cycles": complete})
            else:
                del sources[name]
    return catalog.model_copy(update={"sources": sources})


def _fetch(source: RunSource, run: np.datetime64, fxx: int, job: Job, runlog: RunLog) -> Path:
    """`source.fetch(run, fxx)`, retried on network errors (see `Retry`); a corrupt cached subset is removed and
    cut again once. Raises `SourceDown` when the retries are spent, `InputError` for anything else."""
    attempt, recut = 1, False
    while True:
        try:
            return source.fetch(run, fxx)
        except InputError as e:
            where = Path(e.where)
            if not recut and where.name.startswith("subset_") and where.exists():  # fails to decode: cut again
                log.warning("removing the unreadable cached subset %s (%s)", where, e)
                where.unlink()
                recut = True
                continue
            if not isinstance(e.__cause__, (requests.RequestException, RuntimeError, OSError)):
                raise
            if attempt >= job.retry.attempts:
                raise SourceDown(f"{attempt} attempts, last error: {e.found or e}") from e
            wait = job.retry.backoff_s * 2 ** (attempt - 1)
            runlog.write("retry", source=source.name, cycle=str(run)[:16], fxx=fxx, attempt=attempt, wait_s=wait,
                         error=str(e)[:300])
            job.sleep(wait)
            attempt += 1


# --------------------------------------------------------------------------------------------------- ingest


def ingest_day(catalog: Catalog, day: dt.date, runlog: RunLog, result: DayResult) -> None:
    """Ingest each source for `day`; a source whose data is bad is recorded as missing, the others go on."""
    for name in catalog.sources:
        try:
            report = ingest(catalog, [name], day, day, progress=False)
        except InputError as e:
            result.missing.append({"source": name, "reason": [str(e)]})
            runlog.write("ingest", source=name, status="failed", error=str(e))
            continue
        result.changed += report.written
        status = "no data" if report.empty else ("written" if report.written else "nothing to do")
        runlog.write("ingest", source=name, status=status, written=report.written, unchanged=len(report.unchanged))


# ------------------------------------------------------------------------------------------------- tokenize


def tokenize_day(job: Job, day: dt.date, runlog: RunLog, result: DayResult) -> None:
    """Tokens of the day's hourly and daily windows of every stored hourly series (see `day_tokens`), for the
    sources whose inputs (the window's partitions, the tokenizers) differ from those recorded in the token file:
    a day already tokenized costs a few hashes, not a tokenizer run."""
    store = job.store
    keys = [k for k in store.keys("hourly") if k.endswith(day.isoformat())]
    if not keys:
        runlog.write("tokenize", status="skipped: no hourly series stored for the day")
        return
    paths = {name: TOKENIZER_DIR / f"t2m_{name}.safetensors" for name in ("hourly", "daily")}
    shas = {f"{name}_tokenizer_sha256": tree_digest(path) for name, path in paths.items()}
    _check_trained_with(job.checkpoint or CHECKPOINT_DIR / "transformer-full.safetensors", {
        f"t2m_{name}": (path, shas[f"{name}_tokenizer_sha256"]) for name, path in paths.items()})
    window = _tokenizer_config(paths["daily"])["length"]
    models, written = None, []
    for key in keys:
        source = key.split("/")[1]
        target = job.out / "tokens" / day.isoformat() / f"{source}.nc"
        inputs = _window_digest(store, source, day, window, shas)
        if target.exists():
            with xr.open_dataset(target) as old:
                if old.attrs.get("inputs_sha256") == inputs:
                    continue
        if models is None:
            from tm_weather.tokenizers.registry import load_tokenizer

            models = {name: load_tokenizer(path)[0] for name, path in paths.items()}
        ds = day_tokens(store, source, day, models)
        ds.attrs = shas | {"source": source, "day": day.isoformat(), "inputs_sha256": inputs}
        if write_if_changed(ds, target):
            written.append(source)
    result.changed += [f"tokens/{day}/{s}" for s in written]
    runlog.write("tokenize", status="written" if written else "nothing to do", sources=written)


def _check_trained_with(checkpoint: Path, tokenizers: dict[str, tuple[Path, str]]) -> None:
    """`InputError` when a tokenizer `name -> (path, sha256)` differs from the one the transformer `checkpoint`
    records in its metadata (the tokens the job writes are the model's inputs: another tokenizer would make them
    silently wrong). Nothing to check without the checkpoint."""
    from safetensors import safe_open

    if not Path(checkpoint).is_file():
        return
    with safe_open(str(checkpoint), "np") as f:
        trained = yaml.safe_load(f.metadata().get("tokenizers", "{}")) or {}
    for name, (path, digest) in tokenizers.items():
        if name in trained and trained[name] != digest:
            raise InputError(path, "sha256", f"{trained[name]} (the tokenizer {Path(checkpoint).name} was trained with)", digest)


def _tokenizer_config(path: Path) -> dict:
    """A tokenizer checkpoint's config, from its safetensors metadata (no torch needed)."""
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return json.loads(f.metadata()["config"])


def _window_digest(store: Store, source: str, day: dt.date, window: int, shas: dict) -> str:
    """sha256 of the tokenizers' hashes and of the stored partitions of `source` in the `window` days to `day`."""
    h = hashlib.sha256(json.dumps(shas, sort_keys=True).encode())
    for n in range(window):
        key = f"hourly/{source}/{(day - dt.timedelta(days=n)).isoformat()}"
        h.update(f"{key}:{tree_digest(store.path / key)};".encode())
    return h.hexdigest()


def day_tokens(store: Store, source: str, day: dt.date, models: dict) -> xr.Dataset:
    """`hourly (site, hourly_token)`: tokens of each site's 24 hours of `day`; `daily (site, daily_token)`:
    of its daily mean/min/max over the tokenizer's window ending on `day`. -1 where a window is incomplete."""
    import torch

    hours = store.read_partition(f"hourly/{source}/{day.isoformat()}")
    sites = [str(s) for s in hours["site"].values]
    hourly_values = hours["t2m"].transpose("site", "time").values
    window = models["daily"].config.length
    dates = [day - dt.timedelta(days=n) for n in range(window - 1, -1, -1)]
    parts = [store.read_partition(f"hourly/{source}/{d.isoformat()}") for d in dates
             if (store.path / "hourly" / source / d.isoformat() / "zarr.json").exists()]
    daily_values = np.full((len(sites), 3, window), np.nan, np.float32)
    if len(parts) == window:
        stats = xr.concat([p[["t2m_mean", "t2m_min", "t2m_max"]] for p in parts], "date", join="outer")
        stats = stats.reindex(site=sites)
        daily_values = np.stack([stats[v].transpose("site", "date").values for v in ("t2m_mean", "t2m_min", "t2m_max")],
                                axis=1)
    out = {}
    for name, values, length in (("hourly", hourly_values, 24), ("daily", daily_values, window)):
        model = models[name]
        tokens = np.full((len(sites), model.config.tokens), -1, np.int64)
        ok = np.isfinite(values).reshape(len(sites), -1).all(1) & (values.shape[-1] == length)
        if ok.any():
            x = torch.from_numpy(np.ascontiguousarray(values[ok], np.float32)).reshape(int(ok.sum()), -1, length)
            tokens[ok] = model.encode(x).reshape(int(ok.sum()), -1).numpy()
        out[name] = ((("site", f"{name}_token"), tokens, {"missing": -1}))
    return xr.Dataset(out, coords={"site": sites})


def write_if_changed(ds: xr.Dataset, path: Path) -> bool:
    """Write `ds` to netCDF `path` (through `tm_weather.outputs`) unless `path` holds the same content."""
    if path.exists():
        with xr.open_dataset(path) as old:
            if old.load().identical(ds):
                return False
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp)
    return True


# ------------------------------------------------------------------------------------------ generate, verify


def generate_day(job: Job, day: dt.date, runlog: RunLog, result: DayResult) -> None:
    """Each tile's T2M at `GENERATE_HOUR` UTC of `day` through the library call `tm-weather generate` makes
    (`api.generate_one_tile`, the generator loaded once; files already there kept, each written whole or not)."""
    from tm_weather.model import DEFAULT_CHECKPOINT

    checkpoint = job.checkpoint or DEFAULT_CHECKPOINT
    if not checkpoint.exists():
        runlog.write("generate", status="skipped: no model", reason=f"no checkpoint {checkpoint}")
        return
    from tm_weather import api

    folder = job.out / "generated" / day.isoformat()
    gfs = next((n for n, s in open_sources(job.catalog).items() if isinstance(s, OrographySource)), None)
    time = np.datetime64(f"{day}T{GENERATE_HOUR:02d}:00")
    generator, written = None, []
    for tile in job.catalog.tiles:
        path = folder / f"{tile.name}.nc"
        if path.exists():
            continue
        try:
            generator = generator or api.load_generator(checkpoint)
            ds = api.generate_one_tile(job.catalog.path(tile.s2), time, dem=tile.dem and job.catalog.path(tile.dem),
                                       lulc=tile.lulc and job.catalog.path(tile.lulc),
                                       gfs=f"{job.catalog_path}:{gfs}" if gfs else None,
                                       boa_add_offset=tile.boa_add_offset, generator=generator)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as tmp:
                ds.to_netcdf(tmp)
        except InputError as e:
            result.missing.append({"source": "generate", "tile": tile.name, "reason": [str(e)]})
            continue
        written.append(tile.name)
    result.changed += [f"generated/{day}/{t}" for t in written]
    runlog.write("generate", status="written" if written else "nothing to do", tiles=written)


def verify_day(job: Job, day: dt.date, runlog: RunLog, result: DayResult) -> None:
    """Verify `day`'s generations against the catalog's `truth_<tile>` sources (`verify.run.verify`), once."""
    preds = sorted((job.out / "generated" / day.isoformat()).glob("*.nc"))
    out = job.out / "verify" / day.isoformat()
    if not preds:
        runlog.write("verify", status=f"skipped: no generations for {day}")
        return
    if (out / "report.html").exists():
        runlog.write("verify", status="nothing to do", report=str(out / "report.html"))
        return
    from tm_weather.verify.run import verify

    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        verify(preds, "truth_{tile}", tmp, job.catalog_path)
    except InputError as e:
        result.missing.append({"source": "verify", "day": str(day), "reason": [str(e)]})
        runlog.write("verify", status="failed", error=str(e))
        return
    os.rename(tmp, out)
    result.changed.append(f"verify/{day}")
    runlog.write("verify", status="written", report=str(out / "report.html"))


def tree_digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative path and bytes of each); '' if it is absent."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.exists():
        return ""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()

