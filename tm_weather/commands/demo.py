"""`tm-weather demo`: the main job on the embedded default data (no network, no credentials).

It runs, in order, what a user would run by hand, through the same commands:
1. `tm-weather ingest` of the embedded catalog (`data_catalog.yaml`: the real ERA5, GFS and ISD fixtures);
2. `tm-weather world --preset demo` (the benchmark world, grounded in those fixtures; issue 3);
3. `tm-weather ingest --acquisition-days` of the world's catalog (one window per day its tiles were acquired on);
4. generation on each of the world's test tiles with the shipped checkpoints (an ensemble), every `EVERY_H` hours
   of its acquisition day, through the same library call as `tm-weather generate` (`Generator.tile`; the model is
   loaded once);
5. `tm-weather verify` of those generations against the world's truth and the baselines: `report.html`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tm_weather.catalog import load_catalog
from tm_weather.errors import EXIT_OK
from tm_weather.shipped import DEFAULT_CATALOG

#: Hours between the generated valid times of a test tile's acquisition day (00, 03, .., 21 UTC).
EVERY_H = 3


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

    print(f"\n[4/5] generate T2M for the test tiles every {EVERY_H} h of their acquisition days (shipped checkpoints)", flush=True)
    generated = [str(p) for p in generate_test_days(catalog, catalog_path, out / "generated", args.members, args.seed)]

    report = out / "report"
    argv = ["verify", "--pred", *generated, "--truth", "truth_{tile}", "--catalog", str(catalog_path), "--out", str(report)]
    if (code := _step(5, "verify against truth and baselines", argv, main)) != EXIT_OK:
        return code
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    print(f"  generated fields: {', '.join(generated)}")
    print(f"  report:           {report / 'report.html'}")
    return EXIT_OK


def generate_test_days(catalog, catalog_path: Path, folder: Path, members: int, seed: int) -> list[Path]:
    """Each test tile's T2M (S-2, DEM, LULC and the catalog's GFS) at every `EVERY_H` h of its acquisition day
    -> `folder/<tile>_<HH>.nc`, each written whole or not at all."""
    import numpy as np
    from tqdm import tqdm

    from tm_weather.model import DEFAULT_CHECKPOINT
    from tm_weather.model.generate import GenerationConfig
    from tm_weather.model.generator import Generator
    from tm_weather.outputs import atomic_file
    from tm_weather.sources import open_source
    from tm_weather.tiles import gfs_series, read_tile

    generator = Generator.load(DEFAULT_CHECKPOINT)
    source = open_source("gfs", catalog.sources["gfs"], catalog)
    config = GenerationConfig(members=members, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    runs: dict = {}
    written = []
    entries = [t for t in catalog.tiles if t.name in set(catalog.splits["test"].tiles)]
    for entry in tqdm(entries, desc="generate", unit="tile"):
        tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), catalog.path(entry.lulc),
                         boa_add_offset=entry.boa_add_offset, name=entry.name)
        day = tile.acquired.astype("datetime64[D]")
        gfs = gfs_series(source, runs, day, tile)
        for hour in range(0, 24, EVERY_H):
            time = day.astype("datetime64[s]") + np.timedelta64(hour, "h")
            ds = generator.tile(tile, time, gfs, config, provenance={
                "input_s2": str(catalog.path(entry.s2)), "input_gfs": f"{catalog_path}:gfs",
                "input_gfs_leads_h": " ".join(str(int(x)) for x in gfs.lead),
                # verify orders a tile's files by lead: here the hours after the day's 00Z
                "init_time": f"{day}T00:00:00Z"})
            target = folder / f"{entry.name}_{hour:02d}.nc"
            with atomic_file(target) as tmp:
                ds.to_netcdf(tmp)
            written.append(target)
    return written


def _step(n: int, what: str, argv: list[str], main) -> int:
    print(f"\n[{n}/5] {what}: tm-weather {' '.join(argv)}", flush=True)
    return main(argv)

