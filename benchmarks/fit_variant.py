"""Fit a variant of the regression network through the product's own fit (`anomaly_train.train_anomaly`) on a
benchmark world, the preset's recipe with some fields replaced, to score it with `benchmarks/field_limit.py
--checkpoint OUT/anomaly-<preset>.safetensors`: a recipe is tried here before a preset or default is changed.

    .venv/bin/python benchmarks/fit_variant.py OUT [--preset full] [FIELD=VALUE ...]

FIELD is a field of `anomaly_train.FitConfig` (steps, batch, lr, ...) or of `anomaly.AnomalyConfig` (width,
basis, context, hidden); e.g. `basis=16 steps=8000`. The world is the preset's (seed 0), built if not cached.
"""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from pathlib import Path

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.model.anomaly import AnomalyConfig
from tm_weather.model.anomaly_train import FitConfig, train_anomaly
from tm_weather.train import PRESETS
from tm_weather.world.build import CATALOG
from tm_weather.world.cache import cached_world


def variant(base: FitConfig, assignments: list[str]) -> FitConfig:
    """`base` with each `FIELD=VALUE` of `assignments` replaced, in `FitConfig` or its `model`'s `AnomalyConfig`
    (the value converted to the field's type)."""
    fit_types = {f.name: type(getattr(base, f.name)) for f in fields(FitConfig) if f.name != "model"}
    model_types = {f.name: type(getattr(base.model, f.name)) for f in fields(AnomalyConfig)}
    fit_kw, model_kw = {}, {}
    for item in assignments:
        name, _, value = item.partition("=")
        if name in fit_types:
            fit_kw[name] = fit_types[name](value)
        elif name in model_types:
            model_kw[name] = model_types[name](value)
        else:
            raise SystemExit(f"fit_variant: {name!r} is no field of FitConfig or AnomalyConfig "
                             f"({', '.join([*fit_types, *model_types])})")
    return replace(base, model=replace(base.model, **model_kw), **fit_kw)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder for the checkpoint, its card and the resumable run")
    p.add_argument("assignments", nargs="*", metavar="FIELD=VALUE", help="fields of the preset's fit to replace")
    p.add_argument("--preset", default="full", choices=("demo", "full"), help="preset whose world and recipe to start "
                   "from (default: full)")
    args = p.parse_args()
    config = variant(PRESETS[args.preset].regression, args.assignments)
    print(config)
    train_anomaly(cached_world(args.preset) / CATALOG, args.preset, config, out=args.out, run_dir=args.out / "run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
