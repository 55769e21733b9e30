"""`tm-weather index FILE.grib2 [FILE...]`: write a wgrib2-format `FILE.grib2.idx` beside each GRIB2 file."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.errors import EXIT_OK
from tm_weather.grib import write_idx


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="write wgrib2-format .idx inventories beside GRIB2 files",
        description="Write FILE.idx beside each GRIB2 FILE (one `N:OFFSET:d=YYYYMMDDHH:VAR:LEVEL:FORECAST:` line per "
        "message, as NOAA publishes them), so Herbie and tm-weather read single messages by byte range. "
        "Each .idx is written whole or not at all; a bad file stops the command with exit status 2.",
    )
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="GRIB2 file(s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for path in args.files:
        print(write_idx(path))
    return EXIT_OK
