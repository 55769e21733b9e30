"""What every experiment shares: its command line, the shipped model and tokenizers, a world's split samples,
the rows it scores, and writing its results (markdown + JSON) with the command, machine and date."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.catalog import load_catalog
from tm_weather.model import DEFAULT_CHECKPOINT
from tm_weather.model.data import Samples
from tm_weather.model.generate import GenerationConfig
from tm_weather.model.generator import Generator
from tm_weather.tokenizers.image_data import world_catalog
from tm_weather.train import split_samples

RESULTS = Path(__file__).resolve().parent / "results"


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every experiment takes."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="full", help="benchmark world preset, seed 0 (default: full)")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="transformer checkpoint (default: shipped)")
    p.add_argument("--every", type=int, default=3, help="score every N-th valid hour of the test split (default 3)")
    p.add_argument("--members", type=int, default=8, help="ensemble members (default 8)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the tables and figures (default: %(default)s)")
    p.add_argument("--samples", type=Path, help="folder of cached split samples (default: runs/transformer-WORLD, where "
                   "`tm-weather train --preset WORLD` left them; built there when missing)")
    return p


@dataclass
class Setup:
    """The generator (transformer, tokenizers, regression), the world's catalog and test samples, and the scored
    rows of the test split."""

    generator: Generator
    catalog: object
    catalog_path: Path
    test: Samples
    rows: list[int]
    config: GenerationConfig
    cache: Path

    def split(self, name: str) -> Samples:
        return split_samples(self.catalog_path, name, self.generator.tokenizers, self.generator.regression, self.cache, print)

    def truth(self) -> np.ndarray:
        """Truth block means `(rows, 14, 14)` K."""
        return self.test.truth[self.rows].numpy()


def setup(args: argparse.Namespace) -> Setup:
    """Load everything an experiment needs (one torch thread: the CPU is shared)."""
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    generator = Generator.load(args.checkpoint)
    catalog_path = world_catalog(preset=args.world)
    cache = args.samples or Path("runs") / f"transformer-{args.world}"
    cache.mkdir(parents=True, exist_ok=True)
    test = split_samples(catalog_path, "test", generator.tokenizers, generator.regression, cache, print)
    rows = [i for i in range(len(test)) if int(test.hour[i]) % args.every == 0 and bool(test.present["gfs"][i])]
    print(f"{len(rows)} test samples of the {args.world} world ({len(set(int(test.tile[i]) for i in rows))} tiles)")
    return Setup(generator, load_catalog(catalog_path), catalog_path, test, rows,
                 GenerationConfig(members=args.members, top_p=1.0), cache)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    info = Path("/proc/cpuinfo")
    for line in info.read_text().splitlines() if info.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def start(p: argparse.ArgumentParser) -> tuple[argparse.Namespace, float, Setup, np.ndarray]:
    """Parse the command line and load everything: (args, start time, `Setup`, truth `(rows, 14, 14)` K)."""
    args = p.parse_args()
    started = time.perf_counter()
    s = setup(args)
    return args, started, s, s.truth()


def provenance(args: argparse.Namespace, started: float) -> str:
    """A markdown paragraph: the command, the checkpoint, the machine, the date and the wall time."""
    cpu = cpu_model()
    command = " ".join([".venv/bin/python", *[os.path.relpath(sys.argv[0]), *sys.argv[1:]]])
    return (f"Command: `{command}`; checkpoint `{args.checkpoint.name}`; world `{args.world}` (seed 0), test split, "
            f"every {args.every} h, {args.members} members. Machine: {os.cpu_count()} x {cpu}, one torch thread. "
            f"Date: {dt.date.today()}; wall time {(time.perf_counter() - started) / 60:.1f} min.")


def write(out: Path, name: str, markdown: str, numbers: dict) -> None:
    """`out/<name>.md` and `out/<name>.json`."""
    (out / f"{name}.md").write_text(markdown.rstrip() + "\n")
    (out / f"{name}.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print(markdown)
    print(f"wrote {out / name}.md and .json")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
