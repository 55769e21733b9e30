"""`tm-weather train`: train the shared transformer (correlation learning) and ship its checkpoint and model card."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.model import CHECKPOINT_DIR
from tm_weather.errors import EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the shared transformer on a catalog (default: the benchmark world)",
        description="Tokenize the catalog's train and val splits (Sentinel-2, DEM, LULC, NDVI, truth T2M fields and "
        "hourly profiles, GFS series), train the transformer by correlation learning with Lightning (resuming from "
        "the run folder's last.ckpt), and write the checkpoint and its model card.",
    )
    p.add_argument("--preset", choices=("demo", "full", "base"), default="demo", help="size and length of the run (default: demo)")
    p.add_argument("--catalog", type=Path, help="catalog with tiles, a 'gfs' source, 'truth_<tile>' or 'truth' "
                   "analyses and train/val splits (default: the preset's benchmark world, built on first use)")
    p.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoint and card (default: %(default)s)")
    p.add_argument("--run-dir", type=Path, help="folder for resumable state and logs (default: runs/transformer-PRESET)")
    p.add_argument("--steps", type=int, help="override the preset's number of steps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tm_weather.train import train

    path = train(args.preset, args.catalog, args.out, args.run_dir, steps=args.steps)
    print(f"wrote {path} and {path.with_suffix('.yaml')}")
    return EXIT_OK
