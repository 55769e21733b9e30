"""`tm-weather world`: write the benchmark world (`tm_weather.jobs.world.write_world`: whole or not at all) and print
its variance / baseline table."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.climatology import PACKAGED
from tm_weather.errors import EXIT_OK
from tm_weather.jobs.world import write_world
from tm_weather.world.build import CATALOG
from tm_weather.world.cache import world_folder
from tm_weather.world.presets import PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "world",
        help="write the benchmark world: Sentinel-2 tiles, GFS, truth, stations and a catalog",
        description=(
            "Write a self-consistent synthetic dataset in the real file formats (GeoTIFF, GRIB2 in Herbie's cache, "
            "CF netCDF on each tile's UTM grid, ISD) with a catalog for `tm-weather ingest`, then print each "
            "physical term's share of T2M variance and the baselines' RMSE on the test split (docs/world.md)."
        ),
    )
    p.add_argument("--out", type=Path, help="folder to write, replaced if it holds an earlier world (default: the "
                   "user's cache folder that `tm-weather train --preset` reads; out/world-PRESET-SEED with another "
                   "--climatology)")
    p.add_argument("--preset", default="tiny", help=f"size: {', '.join(PRESETS)} (default: tiny)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed: same bytes)")
    p.add_argument("--climatology", type=Path, default=PACKAGED,
                   help="ERA5 monthly T2M climatology netCDF (default: the packaged 0.5 deg copy)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or (world_folder(args.preset, args.seed) if args.climatology == PACKAGED
                       else Path(f"out/world-{args.preset}-{args.seed}"))
    scores = write_world(out, args.preset, args.seed, args.climatology)
    print(f"world written to {out} (catalog: {out / CATALOG})")
    print(scores.table())
    return EXIT_OK
