"""`tm-weather verify --pred GENERATED.nc... --truth SOURCE --out DIR`: verify generated T2M against truth and
the baselines; write report.html (self-contained), metrics.csv and metrics.json (tm_weather.verify)."""

from __future__ import annotations

import argparse
import functools
import glob
from pathlib import Path

import numpy as np

from tm_weather.catalog import Catalog, load_catalog
from tm_weather.commands import bounded_int
from tm_weather.errors import EXIT_OK, InputError
from tm_weather.outputs import check_output
from tm_weather.sources import open_source
from tm_weather.verify.baselines import (
    Climatology, GFSInterpolated, GFSRuns, LinearS2, Persistence, PredictionFiles, TileCase,
)
from tm_weather.verify.evaluate import collect, score_table
from tm_weather.verify.prediction import read_predictions
from tm_weather.verify.report import write_report
from tm_weather.verify.truth import BLOCK, open_truth


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
    p.add_argument("--block", type=bounded_int(1), default=BLOCK,
                   help=f"pixels per block side for gridded truth (default {BLOCK})")
    p.add_argument("--baseline", action="append", default=[], metavar="NAME=GLOB",
                   help="another model's prediction files as a baseline, e.g. unet='unet/*.nc' (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.out, "--out", folder=True)
    catalog = load_catalog(args.catalog)
    predictions = read_predictions(args.pred)
    cases = [TileCase.of(catalog, p.tile, p.grid, p.valid_time, p.t2m["lead_time"].values) for p in predictions]

    truth_for = functools.cache(lambda tile: open_truth(args.truth, catalog, tile, args.station_method, args.block))
    verification = collect(predictions, cases, truth_for, _baselines(args, catalog, truth_for, cases[0].leads))
    table = score_table(verification)
    provenance = {"truth": args.truth, "predictions": [str(p) for p in args.pred], "catalog": str(args.catalog)}
    for key in sorted({k for p in predictions for k in p.attrs if k == "title" or "checkpoint" in k}):
        provenance[f"prediction {key}"] = sorted({str(p.attrs[key]) for p in predictions if key in p.attrs})
    write_report(args.out, verification, table, provenance)
    print(f"report written to {args.out / 'report.html'}")
    return EXIT_OK


def _baselines(args: argparse.Namespace, catalog: Catalog, truth_for, leads: np.ndarray) -> list:
    """Every baseline the catalog allows (see tm_weather.verify.baselines)."""
    train = catalog.splits.get("train")
    source = args.truth.removeprefix("store:")
    out: list = [Climatology(catalog, source, train.start if train else None, train.end if train else None),
                 Persistence(truth_for)]
    gfs = next((n for n, s in catalog.sources.items() if s.kind == "gfs"), None)
    if gfs is not None:
        runs = GFSRuns(open_source(gfs, catalog.sources[gfs], catalog))
        out += [GFSInterpolated(runs, lapse=False), GFSInterpolated(runs, lapse=True),
                LinearS2(runs, truth_for, [TileCase.train(catalog, t, leads) for t in (train.tiles if train else [])])]
    nbm = next((n for n, s in catalog.sources.items() if s.kind == "nbm"), None)
    if nbm is not None:
        out.append(GFSInterpolated(GFSRuns(open_source(nbm, catalog.sources[nbm], catalog), label="NBM"), lapse=False))
    for spec in args.baseline:
        name, _, pattern = spec.partition("=")
        paths = sorted(glob.glob(pattern))
        if not name or not paths:
            found = "no files" if name else "no name"
            raise InputError("--baseline", spec, "NAME=GLOB matching prediction files", found)
        out.append(PredictionFiles(name, [Path(p) for p in paths]))
    return out
