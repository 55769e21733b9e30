"""`tm-weather verify --pred GENERATED.nc... --truth SOURCE --out DIR`: verify generated T2M against truth and
the baselines; write report.html (self-contained), metrics.csv and metrics.json (tm_weather.verify)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.commands import bounded_int
from tm_weather.errors import EXIT_OK
from tm_weather.verify.run import verify
from tm_weather.metrics import SCORING_BLOCK


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="verify generated T2M against truth and baselines; write an HTML report and metrics tables",
        description="Verify generated T2M ensembles (one netCDF per tile, `tm-weather generate`'s layout) against "
        "a truth source of the catalog and against the baselines (climatology from the store, persistence, GFS "
        "12 h interpolated with and without lapse rate, NBM 12 h where the catalog has an nbm source, linear "
        "regression on Sentinel-2, and any --baseline files). Writes DIR/report.html (images embedded), DIR/metrics.csv and DIR/metrics.json. Bad input "
        "(no spatial overlap, mismatched times, wrong units) stops with exit status 2 and writes nothing.",
    )
    p.add_argument("--pred", type=Path, nargs="+", required=True, metavar="GENERATED.nc",
                   help="prediction file(s): one or more per tile (several valid times of a tile need init_time)")
    p.add_argument("--truth", required=True, metavar="SOURCE",
                   help="a catalog source ({tile} is replaced by the tile's name) or store:NAME")
    p.add_argument("--out", type=Path, required=True, help="folder for the report (created)")
    p.add_argument("--catalog", type=Path, default=Path("data_catalog.yaml"), help="(default: data_catalog.yaml)")
    p.add_argument("--station-method", choices=("bilinear", "nearest"), default="bilinear",
                   help="how gridded values are sampled at stations (default: bilinear)")
    p.add_argument("--block", type=bounded_int(1), default=SCORING_BLOCK,
                   help=f"pixels per block side for gridded truth (default {SCORING_BLOCK})")
    p.add_argument("--baseline", action="append", default=[], metavar="NAME=GLOB",
                   help="another model's prediction files as a baseline, e.g. unet='unet/*.nc' (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = verify(args.pred, args.truth, args.out, args.catalog, args.station_method, args.block, args.baseline)
    print(f"report written to {report}")
    return EXIT_OK
