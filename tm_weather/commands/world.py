"""`tm-weather world`: write the benchmark world (tm_weather.world) and print its variance / baseline table."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.errors import EXIT_OK
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "world",
        help="write the benchmark world: Sentinel-2 tiles, GFS, truth, stations and a catalog",
        description=(
            "Write a self-consistent synthetic dataset in the real file formats (GeoTIFF, GRIB2 in Herbie's cache, "
            "CF netCDF, ISD) with a catalog for `tm-weather ingest`, then print each physical term's share of T2M "
            "variance and the GFS+lapse baseline's RMSE on the test split."
        ),
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write into (created)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny", help="size (default: tiny)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed: same bytes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scores = build_world(args.out, PRESETS[args.preset], args.seed)
    print(f"world written to {args.out} (catalog: {args.out / CATALOG})")
    print(scores.table())
    return EXIT_OK
