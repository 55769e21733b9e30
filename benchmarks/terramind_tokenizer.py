"""Encode time per tile: TerraMind's S-2 L2A tokenizer (`terramind_v1_tokenizer_s2l2a`, a ViT-B encoder + FSQ,
through the `terramind` extra) beside the project's own s2l2a tokenizer (`tokenizers/s2l2a.safetensors`), on the
five real 224 x 224 tiles, one tile per call (batch 1), as `tm-weather generate` tokenizes a tile.

Each tokenizer encodes every tile once to warm up, then `--runs` times over the five tiles; a run's number is its
median seconds per tile, and the table gives the median and range over the runs. TerraMind's weights are random
(`pretrained=False`): the encoder's cost does not depend on its weights. Standardisation (TerraMind's
mean / std; the project's reflectance) is inside the timed call.

Run: `.venv/bin/python benchmarks/terramind_tokenizer.py [--runs 5] [--threads 1]` (needs `make terramind`).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.tokenizers.image_data import real_s2_tiles


def per_tile_seconds(encode, tiles: torch.Tensor, runs: int) -> list[float]:
    """Median seconds per tile of each of `runs` passes over `tiles (n, ...)`, after one warm-up pass."""
    for tile in tiles:
        encode(tile[None])
    out = []
    for _ in range(runs):
        times = []
        for tile in tiles:
            start = time.perf_counter()
            encode(tile[None])
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times))
    return out


def main() -> None:
    from tm_weather.model.data import Tokenizers
    from tm_weather.terramind.tokenizers import TerraMindTokenizers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tiles = real_s2_tiles()  # (5, 12, 224, 224) reflectance
    terramind = TerraMindTokenizers.build(("s2l2a",))
    own = Tokenizers.load()
    rows = {
        "TerraMind terramind_v1_tokenizer_s2l2a": (per_tile_seconds(lambda x: terramind.encode("s2l2a", x * 10000), tiles, args.runs),
                                                   sum(p.numel() for p in terramind.models["s2l2a"].encoder.parameters())),
        "tm-weather s2l2a (tokenizers/s2l2a.safetensors)": (per_tile_seconds(lambda x: own.encode("s2l2a", x), tiles, args.runs),
                                                            sum(p.numel() for p in own.models["s2l2a"].encoder.parameters())),
    }
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} thread(s), {args.runs} runs x {len(tiles)} tiles")
    print("| tokenizer | encoder parameters | encode per tile, median (range over runs) |")
    print("|---|---:|---:|")
    for name, (seconds, params) in rows.items():
        ms = [1000 * s for s in seconds]
        print(f"| {name} | {params:,} | {statistics.median(ms):.1f} ms ({min(ms):.1f} .. {max(ms):.1f}) |")


if __name__ == "__main__":
    main()
