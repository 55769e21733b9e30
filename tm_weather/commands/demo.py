"""`tm-weather demo`: the main job on the embedded default data (no network, no credentials); parses its arguments
and calls `tm_weather.jobs.demo.run_demo` (ingest, world, ingest, generate, verify)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from tm_weather.errors import EXIT_LOCKED, EXIT_OK
from tm_weather.shipped import DEFAULT_CATALOG


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job on the embedded default data",
        description="Ingest the embedded real fixtures, build the demo benchmark world, ingest it, generate 2 m "
        "temperature ensembles for its test tiles with the shipped checkpoints, and verify them against truth "
        "and baselines in an HTML report. Needs no network.",
    )
    p.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="embedded catalog (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: %(default)s)")
    p.add_argument("--members", type=int, default=8, help="ensemble members per tile (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the world and of generation (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tm_weather.jobs.demo import run_demo  # heavy imports only when the command runs
    from tm_weather.store import StoreLocked

    try:
        result = run_demo(args.out, args.catalog, args.members, args.seed, progress=functools.partial(print, flush=True))
    except StoreLocked as e:
        print(f"tm-weather demo: {e}")
        return EXIT_LOCKED
    steps = ", ".join(f"{name} {s:.0f} s" for name, s in result.seconds.items())
    print(f"\ndemo finished in {sum(result.seconds.values()):.0f} s ({steps})")
    print(f"  generated fields: {', '.join(map(str, result.predictions))}")
    print(f"  report:           {result.report}")
    return EXIT_OK
