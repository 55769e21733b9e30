"""`tm-weather train`: fit the regression network (`tm_weather.model.anomaly_train`), then train the shared
transformer (correlation learning) on its residuals, and ship their checkpoints and model cards."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.model import CHECKPOINT_DIR
from tm_weather.errors import EXIT_OK, InputError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the regression network and the shared transformer on a catalog (default: the benchmark world)",
        description="Fit the regression network (S-2, DEM, place, time and the GFS input or, without it, ERA5's "
        "monthly climate -> the field's mean: its tile level and within-tile anomaly on the tiles' 40 m cells), its "
        "relief stage (while the sun is up, relief beyond the catalog's is drawn by the lapse rate), its error model "
        "and residual noise on the catalog's train and val splits (resuming from the run folder's anomaly-last.pt "
        "and anomaly-relief.pt); "
        "then tokenize the splits (Sentinel-2, DEM, LULC, NDVI, truth T2M fields, hourly profiles and their "
        "residuals from the regression, GFS series), train the transformer by correlation learning with Lightning "
        "(resuming from the run folder's last.ckpt), and write the checkpoints and their model cards.",
    )
    p.add_argument("--preset", choices=("demo", "full", "base"), default="demo", help="size and length of the run (default: demo)")
    p.add_argument("--catalog", type=Path, help="catalog with tiles, a GFS source (named 'gfs', or the only one of "
                   "kind gfs), 'truth_<tile>' or 'truth' analyses and train/val splits (default: the preset's "
                   "benchmark world, built on first use)")
    p.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoint and card (default: %(default)s)")
    p.add_argument("--run-dir", type=Path, help="folder for resumable state and logs, one subfolder per part "
                   "(default: runs/anomaly-PRESET and runs/transformer-PRESET)")
    p.add_argument("--steps", type=int, help="override the preset's number of steps (of each part trained)")
    p.add_argument("--part", choices=("all", "anomaly", "transformer"), default="all",
                   help="what to train (default: all, the regression network first)")
    p.add_argument("--backbone", choices=("tm-weather", "terramind-tiny", "terramind-base"), default="tm-weather",
                   help="shared transformer: the project's own (default), or TerraMind's encoder with the weather "
                   "modalities added (needs the terramind extra: make terramind; docs/terramind.md)")
    p.add_argument("--terramind-weights", type=Path, help="local TerraMind checkpoint (TerraMind_v1_tiny.pt / "
                   "_base.pt) to initialise TerraMind's encoder from; every one of its keys must be there (default: random)")
    p.add_argument("--terramind-tokenizers", type=Path, help="folder with TerraMind's tokenizer weights "
                   "(TerraMind_Tokenizer_S2L2A.pt, ...) (default: random)")
    p.add_argument("--terramind-images", default="s2l2a,dem,lulc,ndvi",
                   help="TerraMind image modalities to use, comma-separated (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.backbone != "tm-weather":
        from tm_weather.terramind.train import run as run_terramind

        return run_terramind(args)
    if args.terramind_weights or args.terramind_tokenizers:
        raise InputError("--terramind-weights/--terramind-tokenizers", "use", "with --backbone terramind-tiny|terramind-base",
                         "--backbone tm-weather")
    from tm_weather.model.anomaly_train import train_anomaly
    from tm_weather.tokenizers.image_data import world_catalog
    from tm_weather.train import PRESETS, train

    if args.part in ("all", "anomaly"):
        preset = PRESETS[args.preset]
        catalog = args.catalog or world_catalog(preset=preset.world)
        path = train_anomaly(catalog, args.preset, preset.regression, args.out, args.run_dir and args.run_dir / "regression",
                             steps=args.steps)
        print(f"wrote {path} and {path.with_suffix('.yaml')}")
    if args.part in ("all", "transformer"):
        path = train(args.preset, args.catalog, args.out, args.run_dir and args.run_dir / "transformer", steps=args.steps)
        print(f"wrote {path} and {path.with_suffix('.yaml')}")
    return EXIT_OK
