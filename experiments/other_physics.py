"""Other physics (issue 13: "the catalogs it is checked on include ones you never see, with other physics"): does
the regression learn the field inside the tile from a catalog whose physics is not the benchmark world's?

The benchmark world's generator is run with some of its physical constants changed (`OVERRIDES`: steeper lapse
rate, twice the relief, stronger land-cover and pooling terms of other sizes, a weaker heat island, sharper
mixing, noisier cells) on a smaller preset (`PRESET`), written under `--out` as an ordinary catalog. Then
`benchmarks/field.py --catalog` fits the regression network exactly as `tm-weather train --catalog` does (the
`--preset`'s fit, default demo: what a user gets without options) beside a U-Net given the same inputs, data and
CPU time, and scores both, a flat field, the lapse rate over the DEM and the shipped checkpoint (fitted on the
benchmark world: what a user gets without training) on the test split's within-tile anomaly.

    .venv/bin/python experiments/other_physics.py --out /tmp/other-physics [--preset demo] [--seeds 0 1]

The world is written once (an existing catalog under --out is reused, with the table printed when it was built). The world's table and the benchmark's
are printed and written to experiments/results/other_physics.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.world import constants as C
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS, Preset

RESULTS = Path(__file__).resolve().parent / "results" / "other_physics.md"
FIELD = Path(__file__).resolve().parents[1] / "benchmarks" / "field.py"

#: The changed constants (the benchmark world's in `tm_weather.world.constants`, read there at call time).
OVERRIDES = {
    "LAPSE_RATE": -0.0080,  # K/m, was -0.0065: a drier atmosphere
    "TERRAIN_LARGE": dict(sd=200.0, wavelength_km=(40.0, 400.0), hurst=1.0),  # sd was 100 m: more relief
    "POOL_K": -5.0,  # was -3.0
    "FOREST_DAY_K": -2.0,  # was -1.0
    "FOREST_NIGHT_K": 1.0,  # was 0.5
    "BARE_DAY_K": 3.0,  # was 1.5
    "URBAN_NIGHT_K": 1.5,  # was 3.0
    "MIXING_M": 60.0,  # was 100.0
    "CELL_NOISE_K": 0.25,  # was 0.15
}
#: A third of the full world's locations: 450 train tile-days, 90 test tile-days at unseen places and years.
PRESET = Preset(name="other-physics", locations={"train": 150, "val": 10, "test": 30}, per_region=5, visits=3,
                years=PRESETS["full"].years)


@contextmanager
def physics(overrides: dict):
    """The world generator's constants set to `overrides` (each must exist) inside the block, restored after."""
    old = {name: getattr(C, name) for name in overrides}
    try:
        for name, value in overrides.items():
            setattr(C, name, value)
        yield
    finally:
        for name, value in old.items():
            setattr(C, name, value)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder of the world (built there unless it holds one with its table)")
    p.add_argument("--seed", type=int, default=0, help="the world's seed")
    p.add_argument("--preset", default="demo", choices=("demo", "full"), help="training preset whose regression "
                   "fit is used (default: demo, what `tm-weather train --catalog` uses without --preset)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="fit seeds")
    args = p.parse_args()
    start = datetime.datetime.now(datetime.timezone.utc)
    table = args.out / "world_table.txt"
    if not table.exists():
        if (args.out / CATALOG).exists():
            p.error(f"{args.out} holds a catalog but no {table.name} (an interrupted build, or another world): "
                    "give a new --out")
        with physics(OVERRIDES):
            table.parent.mkdir(parents=True, exist_ok=True)
            table.write_text(build_world(args.out, PRESET, args.seed).table())
    world = table.read_text()
    print(world, flush=True)
    command = [sys.executable, str(FIELD), "--world", args.preset, "--catalog", str(args.out / CATALOG),
               "--seeds", *map(str, args.seeds)]
    bench = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    print(bench.stdout)
    if bench.returncode:
        return bench.returncode
    minutes = (datetime.datetime.now(datetime.timezone.utc) - start).total_seconds() / 60
    RESULTS.write_text(
        f"# Other physics: the regression trained on a world that is not the benchmark's\n\n"
        f"Command: `.venv/bin/python experiments/other_physics.py {' '.join(sys.argv[1:])}`; {start:%Y-%m-%d %H:%M} UTC, "
        f"{minutes:.0f} min; {platform.machine()}, one torch thread.\n\n"
        f"Preset: {PRESET}\n\nConstants changed: `{OVERRIDES}`\n\n"
        f"## The world (`tm_weather.world.build_world`), test split\n\n```\n{world}\n```\n\n"
        f"## `benchmarks/field.py` on its catalog\n\n```\n{bench.stdout.strip()}\n```\n")
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
