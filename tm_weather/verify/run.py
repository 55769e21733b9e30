"""Verification as a library call: generated T2M files against a catalog's truth and the baselines -> report.html,
metrics.csv and metrics.json in a folder. `tm-weather verify` parses its arguments and calls `verify`; so does the
daily job."""

from __future__ import annotations

import functools
import glob
from pathlib import Path

import numpy as np

from tm_weather.catalog import Catalog, load_catalog
from tm_weather.errors import InputError
from tm_weather.outputs import check_output
from tm_weather.sources import open_sources
from tm_weather.sources.base import OrographySource
from tm_weather.sources.nbm import NBMForecast
from tm_weather.verify.baselines import (
    Climatology, GFSInterpolated, GFSRuns, LinearS2, Persistence, PredictionFiles, TileCase,
)
from tm_weather.verify.evaluate import collect, score_table
from tm_weather.verify.prediction import read_predictions
from tm_weather.verify.report import write_report
from tm_weather.metrics import SCORING_BLOCK
from tm_weather.verify.truth import open_truth


def verify(pred: list[Path], truth: str, out: Path, catalog_path: Path, station_method: str = "bilinear",
           block: int = SCORING_BLOCK, baselines: list[str] = ()) -> Path:
    """Verify the prediction files `pred` against the catalog source `truth` ("{tile}" replaced by each tile's
    name, or "store:NAME") and the baselines (those the catalog allows, and `baselines`: "NAME=GLOB" prediction
    files); write the report into the folder `out`; return its `report.html`. `InputError` on bad input, before
    anything is written."""
    check_output(out, "--out", folder=True)
    catalog = load_catalog(catalog_path)
    predictions = read_predictions(pred)
    cases = [TileCase.of(catalog, p.tile, p.grid, p.valid_time, p.t2m["lead_time"].values) for p in predictions]

    truth_for = functools.cache(lambda tile: open_truth(truth, catalog, tile, station_method, block))
    verification = collect(predictions, cases, truth_for, _baselines(truth, baselines, catalog, truth_for, cases[0].leads))
    table = score_table(verification)
    provenance = {"truth": truth, "predictions": [str(p) for p in pred], "catalog": str(catalog_path)}
    for key in sorted({k for p in predictions for k in p.attrs if k == "title" or "checkpoint" in k}):
        provenance[f"prediction {key}"] = sorted({str(p.attrs[key]) for p in predictions if key in p.attrs})
    write_report(out, verification, table, provenance)
    return out / "report.html"


def _baselines(truth: str, extra: list[str], catalog: Catalog, truth_for, leads: np.ndarray) -> list:
    """Every baseline the catalog allows (see tm_weather.verify.baselines), and the `extra` prediction files."""
    train = catalog.splits.get("train")
    source = truth.removeprefix("store:")
    out: list = [Climatology(catalog, source, train.start if train else None, train.end if train else None),
                 Persistence(truth_for)]
    sources = open_sources(catalog).values()
    gfs = next((s for s in sources if isinstance(s, OrographySource)), None)  # the lapse rate needs orography
    if gfs is not None:
        runs = GFSRuns(gfs)
        out += [GFSInterpolated(runs, lapse=False), GFSInterpolated(runs, lapse=True),
                LinearS2(runs, truth_for, [TileCase.train(catalog, t, leads) for t in (train.tiles if train else [])])]
    nbm = next((s for s in sources if isinstance(s, NBMForecast)), None)
    if nbm is not None:
        out.append(GFSInterpolated(GFSRuns(nbm, label="NBM"), lapse=False))
    for spec in extra:
        name, _, pattern = spec.partition("=")
        paths = sorted(glob.glob(pattern))
        if not name or not paths:
            found = "no files" if name else "no name"
            raise InputError("--baseline", spec, "NAME=GLOB matching prediction files", found)
        out.append(PredictionFiles(name, [Path(p) for p in paths]))
    return out
