"""`tm-weather demo`: the main job on the embedded default data (no network, no credentials)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.commands import ingest

#: The embedded default catalog: the real fixtures shipped in tests/data.
DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "data_catalog.yaml"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job on the embedded default data",
        description="Ingest the embedded default catalog (real ERA5, GFS and NOAA ISD fixtures) into its store "
        "and print what was stored. Needs no network.",
    )
    p.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog YAML (default: the embedded one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return ingest.run(
        argparse.Namespace(catalog=args.catalog, source=None, start=None, end=None, quiet=False)
    )
