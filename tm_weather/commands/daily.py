"""`tm-weather daily`: the scheduled daily job (tm_weather.jobs.daily; cron and systemd in docs/operations.md)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from tm_weather.errors import EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "daily",
        help="the scheduled daily job: fetch, ingest, tokenize, generate, verify (safe to re-run)",
        description="For a UTC day: fetch GFS f000..f012 of the 00/06/12/18Z runs and the truth analyses into the "
        "cache (retrying network errors with backoff), ingest the catalog's sources into the store, tokenize the "
        "day's hourly and daily windows, generate the tiles' T2M fields and verify the previous day's. A second "
        "run of a day does nothing; a second job running at once exits with status 75; a day with missing inputs "
        "ends with status 3 and its run log names them. Exit status: 0 done or nothing to do, 2 bad input, "
        "3 partial, 75 locked, 1 a bug.",
    )
    p.add_argument("--catalog", type=Path, help="catalog YAML (default: the tiny benchmark world, seed 0, built on "
                   "first use in ~/.cache/tm-weather; its GFS sits in the cache for 2023-02-10..12)")
    p.add_argument("--date", type=dt.date.fromisoformat, default=_utc_today(), metavar="YYYY-MM-DD",
                   help="UTC day (default: today, UTC)")
    p.add_argument("--catch-up", type=int, default=0, metavar="N",
                   help="also run, oldest first, those of the N days before --date that have no successful run")
    p.add_argument("--out", type=Path, help="folder for run logs, tokens, generations, reports (default: daily/ "
                   "beside the store)")
    p.add_argument("--checkpoint", type=Path, help="transformer checkpoint for the generate stage (default: "
                   "tm-weather generate's); the stage is skipped when it does not exist")
    p.add_argument("--offline", action="store_true", help="read the cache only, never the network")
    p.add_argument("--retries", type=int, default=3, help="tries per file on network errors (default: 3)")
    p.add_argument("--backoff", type=float, default=30.0, help="seconds before the first retry, doubling (default: 30)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tm_weather.jobs.daily import Job, Retry, run_job, tree_digest
    from tm_weather.store import StoreLocked
    from tm_weather.times import utc_time

    catalog = args.catalog
    if catalog is None:
        from tm_weather.tokenizers.image_data import world_catalog

        catalog = world_catalog(preset="tiny")
    utc_time(args.date, "--date", "value")
    job = Job.from_catalog(catalog, args.out, args.offline, retry=Retry(args.retries, args.backoff),
                          checkpoint=args.checkpoint)
    try:
        results = run_job(job, args.date, args.catch_up)
    except StoreLocked as e:
        print(f"tm-weather daily: {e}; exiting (status {EXIT_LOCKED})")
        return EXIT_LOCKED
    for r in results:
        print(f"{r.day}: {r.status}" + (f" ({len(r.changed)} changed)" if r.changed else ""))
        for m in r.missing:
            print(f"  missing: {m}")
    print(f"run log: {job.out / 'log'}")
    print(f"store: {job.store.path} sha256 {tree_digest(job.store.path)}")
    return EXIT_PARTIAL if any(r.missing for r in results) else EXIT_OK
