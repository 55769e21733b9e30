"""`tm-weather ingest`: the catalog's sources into the store, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from tm_weather.catalog import load_catalog
from tm_weather.errors import EXIT_LOCKED, EXIT_OK, InputError
from tm_weather.store import Store, StoreLocked


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="read the catalog's sources into the zarr store",
        description="Read T2M from the catalog's sources (GFS, ERA5, NOAA truth, ...) into hourly and daily "
        "series at its sites and fields on its tiles, stored in its zarr store. Re-running is safe: days "
        "already stored with the same values are left untouched.",
    )
    p.add_argument("--catalog", type=Path, default=Path("data_catalog.yaml"), help="catalog YAML (default: %(default)s)")
    p.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable; default: all)")
    p.add_argument("--start", type=dt.date.fromisoformat, metavar="YYYY-MM-DD", help="first UTC day")
    p.add_argument("--end", type=dt.date.fromisoformat, metavar="YYYY-MM-DD", help="last UTC day (inclusive)")
    p.add_argument("--acquisition-days", action="store_true",
                   help="instead of --start/--end: each UTC day on which one of the catalog's tiles was acquired, "
                   "one window a day (a benchmark world's GFS files exist only around its visits)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tm_weather.ingest import acquisition_days, ingest_windows  # heavy imports only when the command runs

    catalog = load_catalog(args.catalog)
    if args.acquisition_days and (args.start or args.end):
        raise InputError("--acquisition-days", "with --start/--end", "one or the other", "both")
    windows = [(args.start, args.end)]
    if args.acquisition_days:
        if not (days := acquisition_days(catalog)):
            raise InputError(args.catalog, "tiles", "at least one tile for --acquisition-days", "none")
        windows = [(day, day) for day in days]
    try:
        report = ingest_windows(catalog, args.source, windows, progress=not args.quiet)
    except StoreLocked as e:
        print(f"tm-weather ingest: {e}")
        return EXIT_LOCKED
    store = Store(catalog.path(catalog.store))
    print(f"store: {store.path}")
    print(f"partitions written: {len(report.written)}, already up to date: {len(report.unchanged)}")
    for name in report.empty:
        print(f"source {name}: no data in the window")
    print(format_summary(store))
    return EXIT_OK


def format_summary(store: Store) -> str:
    """A table of what the store holds: kind, source, number of days, first and last day."""
    rows = [("kind", "source", "days", "first", "last")] + [tuple(map(str, r)) for r in store.summary()]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
