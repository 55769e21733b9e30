"""The demo (`tm-weather demo`, `make demo`): the main job on the embedded default data (no network, no
credentials) as one library call, `run_demo`. It makes, in order, the library calls of the commands a user would
run by hand:
1. ingest of the embedded catalog (`data_catalog.yaml`: the real ERA5, GFS and ISD fixtures), as `tm-weather ingest`;
2. the benchmark world grounded in those fixtures (issue 3), as `tm-weather world --preset demo` (`write_world`);
3. ingest of the world's catalog, one window per day its tiles were acquired on, as `tm-weather ingest
   --acquisition-days`;
4. generation on each of the world's test tiles with the shipped checkpoints (an ensemble), every `EVERY_H` hours
   of its acquisition day, through the call `tm-weather generate` makes (`Generator.tile`; the model is loaded once);
5. verification of those generations against the world's truth and the baselines, as `tm-weather verify`
   (`verify.run.verify`): `report.html`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tm_weather.catalog import Catalog, load_catalog
from tm_weather.errors import InputError
from tm_weather.ingest import IngestReport, acquisition_days, ingest, ingest_windows
from tm_weather.jobs.world import write_world
from tm_weather.model import DEFAULT_CHECKPOINT
from tm_weather.model.generate import GenerationConfig
from tm_weather.model.generator import Generator
from tm_weather.outputs import atomic_file
from tm_weather.shipped import DEFAULT_CATALOG
from tm_weather.tiles import gfs_series, gfs_source, read_tile
from tm_weather.verify.run import verify
from tm_weather.world.build import CATALOG

#: Hours between the generated valid times of a test tile's acquisition day (00, 03, .., 21 UTC).
EVERY_H = 3


@dataclass(frozen=True)
class DemoResult:
    """What a demo run wrote: the embedded catalog's store, the world's folder, the generated files and the
    report's `report.html`; `seconds`: each step's duration, by step name."""

    store: Path
    world: Path
    predictions: list[Path]
    report: Path
    seconds: dict[str, float]


def run_demo(folder: Path, catalog_path: Path = DEFAULT_CATALOG, members: int = 8, seed: int = 0,
             preset: str = "demo", progress: Callable[[str], None] | None = print) -> DemoResult:
    """Run the demo from the embedded catalog at `catalog_path` into `folder` (`world/`, `generated/`, `report/`):
    a world of size `preset` and `seed`, ensembles of `members`. Each step's heading and summary go to `progress`
    (None: nothing said and no progress bars). `InputError` on bad input; `StoreLocked` when a store is in use."""
    say = progress or (lambda _: None)
    seconds: dict[str, float] = {}

    @contextmanager
    def step(name: str, heading: str) -> Iterator[None]:
        say(f"\n[{len(seconds) + 1}/5] {heading}")
        start = time.monotonic()
        yield
        seconds[name] = time.monotonic() - start

    catalog = load_catalog(catalog_path)
    with step("ingest", "ingest the embedded real fixtures"):
        say(_ingested(catalog, ingest(catalog, progress=progress is not None)))
    world = folder / "world"
    with step("world", f"build the {preset} benchmark world"):
        say(f"world written to {world}\n{write_world(world, preset, seed).table()}")
    world_path = world / CATALOG
    world_catalog = load_catalog(world_path)
    with step("ingest world", "ingest the world, each day its tiles were acquired on"):
        windows = [(day, day) for day in acquisition_days(world_catalog)]
        say(_ingested(world_catalog, ingest_windows(world_catalog, None, windows, progress=False)))
    with step("generate", f"generate T2M for the test tiles every {EVERY_H} h of their acquisition days "
              "(shipped checkpoints)"):
        predictions = generate_test_days(world_catalog, world_path, folder / "generated", members, seed,
                                         progress is not None)
    with step("verify", "verify against truth and baselines"):
        report = verify(predictions, "truth_{tile}", folder / "report", world_path)
        say(f"report written to {report}")
    return DemoResult(catalog.path(catalog.store), world, predictions, report, seconds)


def generate_test_days(catalog: Catalog, catalog_path: Path, folder: Path, members: int, seed: int,
                       progress: bool = True) -> list[Path]:
    """Each test tile's T2M (S-2, DEM, LULC and the catalog's GFS) at every `EVERY_H` h of its acquisition day
    -> `folder/<tile>_<HH>.nc`, each written whole or not at all."""
    generator = Generator.load(DEFAULT_CHECKPOINT)
    source = gfs_source(catalog)
    if source is None:
        raise InputError(catalog_path, "sources", "a GFS forecast source (kind: gfs)", "none")
    config = GenerationConfig(members=members, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    runs: dict = {}
    written = []
    entries = [t for t in catalog.tiles if t.name in set(catalog.splits["test"].tiles)]
    for entry in tqdm(entries, desc="generate", unit="tile", disable=not progress):
        tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), catalog.path(entry.lulc),
                         boa_add_offset=entry.boa_add_offset, name=entry.name)
        day = tile.acquired.astype("datetime64[D]")
        gfs = gfs_series(source, runs, day, tile)
        for hour in range(0, 24, EVERY_H):
            valid = day.astype("datetime64[s]") + np.timedelta64(hour, "h")
            ds = generator.tile(tile, valid, gfs, config, provenance={
                "input_s2": str(catalog.path(entry.s2)), "input_gfs": f"{catalog_path}:gfs",
                "input_gfs_leads_h": " ".join(str(int(x)) for x in gfs.lead),
                # verify orders a tile's files by lead: here the hours after the day's 00Z
                "init_time": f"{day}T00:00:00Z"})
            target = folder / f"{entry.name}_{hour:02d}.nc"
            with atomic_file(target) as tmp:
                ds.to_netcdf(tmp)
            written.append(target)
    return written


def _ingested(catalog: Catalog, report: IngestReport) -> str:
    """One line: the store and how many of its partitions the ingest wrote or found up to date."""
    return (f"store {catalog.path(catalog.store)}: {len(report.written)} partitions written, "
            f"{len(report.unchanged)} already up to date")
