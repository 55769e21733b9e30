"""`tm-weather demo`: the main job on the embedded default data (no network, no credentials).

It runs, in order, what a user would run by hand, through the same commands:
1. `tm-weather ingest` of the embedded catalog (`data_catalog.yaml`: the real ERA5, GFS and ISD fixtures);
2. `tm-weather world --preset demo` (the benchmark world, grounded in those fixtures; issue 3);
3. `tm-weather ingest --acquisition-days` of the world's catalog (one window per day its tiles were acquired on);
4. `tm-weather generate` on each of the world's test tiles with the shipped checkpoints (an ensemble);
5. `tm-weather verify` of those generations against the world's truth and the baselines: `report.html`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tm_weather.catalog import load_catalog
from tm_weather.errors import EXIT_OK

#: The embedded default catalog: the real fixtures shipped in tests/data.
DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "data_catalog.yaml"


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
    from tm_weather.cli import main  # the demo runs the user-facing commands themselves

    out: Path = args.out
    world = out / "world"
    steps = [
        ("ingest the embedded real fixtures", ["ingest", "--catalog", str(args.catalog)]),
        ("build the demo benchmark world", ["world", "--out", str(world), "--preset", "demo", "--seed", str(args.seed)]),
    ]
    started = time.monotonic()
    for n, (what, argv) in enumerate(steps, start=1):
        if (code := _step(n, what, argv, main)) != EXIT_OK:
            return code

    catalog_path = world / "catalog.yaml"
    catalog = load_catalog(catalog_path)
    argv = ["ingest", "--catalog", str(catalog_path), "--acquisition-days", "--quiet"]
    if (code := _step(3, "ingest the world, each day its tiles were acquired on", argv, main)) != EXIT_OK:
        return code

    generated = []
    for name in catalog.splits["test"].tiles:
        tile = next(t for t in catalog.tiles if t.name == name)
        target = out / "generated" / f"{name}.nc"
        target.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            "generate", "--s2", str(catalog.path(tile.s2)), "--time", tile.time.strftime("%Y-%m-%dT%H:%M"),
            "--dem", str(catalog.path(tile.dem)), "--lulc", str(catalog.path(tile.lulc)),
            "--gfs", f"{catalog_path}:gfs", "--members", str(args.members), "--seed", str(args.seed),
            "--out", str(target),
        ]  # fmt: skip
        if (code := _step(4, f"generate T2M for test tile {name}", argv, main)) != EXIT_OK:
            return code
        generated.append(str(target))

    report = out / "report"
    argv = ["verify", "--pred", *generated, "--truth", "truth_{tile}", "--catalog", str(catalog_path), "--out", str(report)]
    if (code := _step(5, "verify against truth and baselines", argv, main)) != EXIT_OK:
        return code
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    print(f"  generated fields: {', '.join(generated)}")
    print(f"  report:           {report / 'report.html'}")
    return EXIT_OK


def _step(n: int, what: str, argv: list[str], main) -> int:
    print(f"\n[{n}/5] {what}: tm-weather {' '.join(argv)}", flush=True)
    return main(argv)

