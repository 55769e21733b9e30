"""`tm-weather world`: write the benchmark world (tm_weather.world) and print its variance / baseline table.

The world is built in a temporary folder next to `--out` and renamed into place only when complete, so a failed
or killed build never leaves a folder that looks like a whole world."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from tm_weather.climatology import PACKAGED, Climatology
from tm_weather.errors import EXIT_OK, InputError
from tm_weather.world.build import CATALOG, build_world
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
    p.add_argument("--out", type=Path, help="folder to write, replaced if it holds an earlier world (default: "
                   "out/world-PRESET-SEED)")
    p.add_argument("--preset", default="tiny", help=f"size: {', '.join(PRESETS)} (default: tiny)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed: same bytes)")
    p.add_argument("--climatology", type=Path, default=PACKAGED,
                   help="ERA5 monthly T2M climatology netCDF (default: the packaged 0.5 deg copy)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.preset not in PRESETS:
        raise InputError("--preset", "preset", f"one of {', '.join(PRESETS)}", repr(args.preset))
    out = Path(args.out or f"out/world-{args.preset}-{args.seed}")
    clim = Climatology.load(args.climatology)
    if out.exists() and not ((out / CATALOG).is_file() or (out.is_dir() and not any(out.iterdir()))):
        raise InputError(out, "folder", "a new folder, an empty one or an earlier world (it is replaced)", "other files")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise InputError(out.parent, "folder", "a writable folder", e.strerror or str(e)) from e
    try:
        scores = build_world(tmp, PRESETS[args.preset], args.seed, clim)
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"world written to {out} (catalog: {out / CATALOG})")
    print(scores.table())
    return EXIT_OK
