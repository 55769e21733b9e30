"""Training throughput and generation latency of a transformer size on a device: the one prepared script for
`base` on a GPU (issue 5), also run on this CPU for `tiny`.

- training throughput: samples/s of the training step (4M masking of a batch with the preset's token budgets on
  the CPU, as the data loader does; forward, per-modality losses, backward and AdamW on the device), after
  `--warmup` steps;
- generation latency: one tile, `--members` members, the standard conditioning (S-2, NDVI, DEM, GFS, place,
  time), the residual profile and the field decoded to kelvin by the shipped tokenizers: median of `--repeat`.

The weights are freshly initialised and the tokens random but valid: neither changes the work per step. On a
GPU, `--bf16` (the default there) runs the network under bfloat16 autocast, as one would train `base`.

    .venv/bin/python benchmarks/throughput.py --size base --device cuda [--batch 64] [--steps 20]
    .venv/bin/python benchmarks/throughput.py --size tiny --device cpu --batch 16
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.model.masking import Batch, MaskingConfig, sample
from tm_weather.shipped import FIXTURES
from tm_weather.model.transformer import HOURS, MODALITIES, SIZES, MultiModalTransformer


def random_tokens(b: int, gen: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """`b` samples of valid random tokens for every modality, all present: (tokens, present)."""
    tokens = {m.name: torch.randint(0, m.vocab, (b, m.length), generator=gen) for m in MODALITIES}
    return tokens, {m.name: torch.ones(b, dtype=torch.bool) for m in MODALITIES}


def training_throughput(model: MultiModalTransformer, tokens: dict[str, torch.Tensor], present: dict[str, torch.Tensor],
                        batch: int, steps: int, warmup: int = 2, autocast: bool = False) -> float:
    """Samples/s of `steps` training steps (after `warmup` more) on batches drawn from `tokens` / `present`
    (`{name: (n, length)}` / `{name: (n,)}`), on the model's device, with the presets' token budgets."""
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    n = len(next(iter(tokens.values())))
    model.train()
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        idx = torch.randint(0, n, (batch,), generator=gen)
        inputs, targets, reveal = sample(Batch({k: v[idx] for k, v in tokens.items()},
                                               {k: v[idx] for k, v in present.items()}), MaskingConfig(), gen)
        with _autocast(device, autocast):
            loss = sum(model.losses(inputs.to(device), targets.to(device), reveal.to(device)).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def generation_latency(model: MultiModalTransformer, members: int, repeat: int, autocast: bool = False) -> float:
    """Median seconds of `generate_t2m` for one tile (a real S-2 tile from tests/data with an untrained regression
    network: the same work as a trained one; random standard conditioning tokens, a plausible GFS series)."""
    from tm_weather.model.anomaly import AnomalyModel, AnomalyNet, ResidualNoise
    from tm_weather.model.data import Tokenizers
    from tm_weather.model.generate import GenerationConfig, generate_t2m
    from tm_weather.model.skill import STANDARD
    from tm_weather.tiles import GFSInput, read_tile

    tokenizers = Tokenizers.load()
    tokens, _ = random_tokens(1, torch.Generator().manual_seed(1))
    conditions = {k: tokens[k][0] for k in STANDARD}
    conditions["time"] = torch.tensor([12, HOURS + 180])  # hour 12, day of year 181 (`data.time_tokens`)
    gfs = GFSInput((285.0 + 5.0 * np.sin(np.arange(24) / 24 * 2 * np.pi)).astype(np.float32), np.arange(24) % 6)
    examples = FIXTURES / "sentinel2" / "terramind-examples"
    s2 = sorted((examples / "S2L2A").glob("*.tif"))[0]
    tile = read_tile(s2, examples / "DEM" / s2.name, boa_add_offset=0)
    regression = AnomalyModel(AnomalyNet().eval(), ResidualNoise(100.0))
    valid = np.datetime64("2023-06-30T12:00")
    device = next(model.parameters()).device
    config = GenerationConfig(members=members)
    model.eval()
    times = []
    for _ in range(repeat + 1):  # the first call warms up kernels and caches
        _sync(device)
        start = time.perf_counter()
        with _autocast(device, autocast):
            generate_t2m(model, tokenizers, regression, tile, conditions, valid, config, gfs)
        _sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def _autocast(device: torch.device, on: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else contextlib.nullcontext()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="base")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on for CUDA, off on the CPU)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--latency", action=argparse.BooleanOptionalAction, default=True,
                   help="also the generation latency (default on; it reads a real tile through rasterio, so a "
                        "machine with only torch, numpy and pyproj runs --no-latency)")
    p.add_argument("--out", type=Path, default=Path("runs/bench-throughput"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = device.type == "cuda" if args.bf16 is None else args.bf16
    torch.manual_seed(0)
    model = MultiModalTransformer(SIZES[args.size]).to(device)
    tokens, present = random_tokens(4 * args.batch, torch.Generator().manual_seed(0))
    throughput = training_throughput(model, tokens, present, args.batch, args.steps, args.warmup, autocast=bf16)
    latency = generation_latency(model, args.members, args.repeat, autocast=bf16) if args.latency else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} torch thread(s)"
    result = {"size": args.size, "parameters": model.num_parameters(), "device": name, "bf16": bf16,
              "batch": args.batch, "steps": args.steps, "train_samples_per_s": throughput,
              "members": args.members, "generation_latency_s": latency, "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    generation = "not measured" if latency is None else f"{latency:.3f} s for one tile x {args.members} members"
    print(f"{args.size} ({result['parameters']:,} parameters) on {name}, bf16 {bf16}: training {throughput:.1f} "
          f"samples/s (batch {args.batch}), generation {generation}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"throughput-{args.size}-{device.type}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
