"""Tokenizer benchmark: held-out RMSE against tokens per day, FSQ vs a Chronos-style tokenization, in one run;
the hourly tokenizer at other climates' levels and diurnal ranges; encode/decode throughput on this CPU; and,
with `--design`, the hourly designs compared by training them here.

Data: the real ERA5 fixture's held-out days, 2019-03-16 00Z .. 03-21 23Z (`series_data.HOLDOUT_START`), 1,617
UK grid points (the issue's reference numbers are on 2019-03-22..31, which the 21-day fixture does not hold).

Chronos-style baseline (Ansari et al. 2024; `tm_weather.tokenizers.chronos`), the tokenization a user would
pick instead: each grid point's held-out series in deg C is mean-scaled (divided by its mean absolute value),
quantized to 4,096 uniform bins over [-15, 15], one token per value; fewer tokens per day by sub-sampling every
24/k hours and cubic-spline interpolation back to hourly. Its float scale is counted as one token per series (per
point and 6 days: +1/6 token/day, generous to the baseline).

FSQ: the shipped 24 h hourly tokenizers with 1, 2 and 4 tokens per window (`tokenizers/t2m_hourly*.yaml`).

Run: `.venv/bin/python benchmarks/tokenizers.py` (a few minutes);
`.venv/bin/python benchmarks/tokenizers.py --design NAME ... [--steps N] [--seeds 0 1 2]`: train the hourly
designs `DESIGNS` here (each about 150 s of CPU per 3,000 steps) and print median and range over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.tokenizers.chronos import chronos_rmse, tokens_for_rmse
from tm_weather.tokenizers.image import ImageTokenizer
from tm_weather.tokenizers.image_data import real_s2_tiles, t2m_field_task, world_catalog, world_tiles
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, HOURLY_AMPLITUDE, get_modality, load_tokenizer
from tm_weather.tokenizers.series_data import SWEEP_AMPLITUDES, SWEEP_BANDS_K, hourly_task, level_sweep
from tm_weather.tokenizers.train import train

FSQ_CHECKPOINTS = ("t2m_hourly_1tok", "t2m_hourly", "t2m_hourly_4tok")
#: The 2-token hourly designs `--design` compares: name -> (changes to the shipped `t2m_hourly` config,
#: amplitude of the training draws' anomaly scaling, whether training draws are moved to levels over 200..330 K).
DESIGNS = {
    "absolute": ({"level_digits": 0, "offset_k": 265.0, "scale_k": 10.0}, HOURLY_AMPLITUDE, True),
    "grid64": ({"level_digits": 2}, HOURLY_AMPLITUDE, False),
    "grid512": ({}, HOURLY_AMPLITUDE, False),  # the shipped design
    "grid512-no-amplitude": ({}, 1.0, False),
    "grid3072": ({"level_digits": 4}, HOURLY_AMPLITUDE, False),
}


def fsq_rows(windows: torch.Tensor) -> list[tuple[int, float, float, float, float]]:
    """(tokens per day, RMSE K, encode windows/s, encoder-only windows/s, decode windows/s) of each shipped
    hourly FSQ tokenizer (encode = the encoder plus its coordinate-descent search passes)."""
    rows = []
    for name in FSQ_CHECKPOINTS:
        model, _ = load_tokenizer(CHECKPOINT_DIR / f"{name}.safetensors")
        indices = model.encode(windows)
        rmse = float((model.decode(indices) - windows).pow(2).mean().sqrt())
        with torch.no_grad():
            encoder_only = _rate(lambda x: model(x)[1], windows)
        encode = _rate(model.encode, windows, 2)
        rows.append((model.config.tokens, rmse, encode, encoder_only, _rate(model.decode, indices)))
    return rows


def patch_mean_rmse(images: torch.Tensor) -> float:
    """RMSE of replacing each 16 x 16 patch of `images (b, c, h, w)` by its exact mean: a float per patch and band."""
    means = F.interpolate(F.avg_pool2d(images, 16), scale_factor=16, mode="nearest")
    return float((images - means).pow(2).mean().sqrt())


def image_quality_rows() -> list[tuple[str, str, float, float]]:
    """(modality, test set, FSQ RMSE, 16-px patch-mean RMSE) for the continuous image tokenizers."""
    world = world_tiles(world_catalog(), "test")
    sets = {name: [("world test split", world[name])] for name in ("s2l2a", "dem", "ndvi")}
    sets["s2l2a"].append(("real tiles", real_s2_tiles()))
    sets["t2m_field"] = [("ERA5 held-out hours", t2m_field_task(None).test)]
    rows = []
    for name, tests in sets.items():
        model, _ = load_tokenizer(CHECKPOINT_DIR / f"{name}.safetensors")
        for label, x in tests:
            recon = torch.cat([model.decode(model.encode(b)) for b in x.split(8)])
            rows.append((name, label, float((recon - x).pow(2).mean().sqrt()), patch_mean_rmse(x)))
    return rows


def image_rows() -> list[tuple[str, float, float]]:
    """(modality, encode tiles/s, decode tiles/s) of each shipped image tokenizer, batches of 8 tiles of 224 px."""
    rows = []
    for card in sorted(CHECKPOINT_DIR.glob("*.yaml")):
        model, name = load_tokenizer(CHECKPOINT_DIR / f"{card.stem}.safetensors")
        if not isinstance(model, ImageTokenizer):
            continue
        c = model.config
        x = torch.randint(0, c.classes, (8, 224, 224)) if c.classes else torch.randn(8, c.channels, 224, 224)
        rows.append((name, _rate(model.encode, x, 3), _rate(model.decode, model.encode(x), 3)))
    return rows


def _rate(fn, x: torch.Tensor, repeats: int = 5) -> float:
    """Items per second of `fn(x)`, best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best


def design_rmse(name: str, seed: int, steps: int | None) -> tuple[float, float, float]:
    """Train design `name` of `DESIGNS` with `seed` (`steps`, default the shipped preset's) -> (held-out RMSE K,
    worst RMSE K over the windows moved into `SWEEP_BANDS_K`, RMSE K with anomalies x`SWEEP_AMPLITUDES[-1]`)."""
    changes, amplitude, shift = DESIGNS[name]
    preset = get_modality("t2m_hourly").presets["demo"]
    task = hourly_task(24, amplitude=amplitude)
    model_config = replace(preset.model, **changes)
    train_config = replace(preset.train, seed=seed, steps=steps or preset.train.steps)

    def draw(gen: torch.Generator, batch: int) -> torch.Tensor:
        x = task.draw(gen, batch)
        if not shift:
            return x
        level = torch.empty(batch, 1, 1).uniform_(*model_config.level_range_k, generator=gen)
        return x - x.mean(dim=(1, 2), keepdim=True) + level

    torch.manual_seed(seed)
    model = get_modality("t2m_hourly").build(model_config)
    train(model, draw, train_config)
    sweep = level_sweep(model.eval(), task.test)
    rmse = float((model.decode(model.encode(task.test)) - task.test).pow(2).mean().sqrt())
    return rmse, max(sweep["rmse_k_in_band"].values()), sweep["rmse_k_at_amplitude"][f"x{SWEEP_AMPLITUDES[-1]:g}"]


def designs(names: list[str], seeds: list[int], steps: int | None) -> None:
    """Print each design's held-out, worst-level and large-amplitude RMSE: median [min .. max] over `seeds`."""
    bands = f"{SWEEP_BANDS_K[0][0]:g}..{SWEEP_BANDS_K[-1][1]:g} K"
    print(f"| design | seeds | steps | held-out RMSE K | worst {bands} band | anomalies x{SWEEP_AMPLITUDES[-1]:g} |")
    print("|---|---|---:|---:|---:|---:|")
    for name in names:
        runs = [design_rmse(name, seed, steps) for seed in seeds]
        cells = [f"{statistics.median(v):.3f} [{min(v):.3f} .. {max(v):.3f}]" for v in zip(*runs)]
        print(f"| {name} | {' '.join(map(str, seeds))} | {steps or 'preset'} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--design", action="append", choices=sorted(DESIGNS), help="train and compare these designs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, help="training steps of each design (default: the shipped preset's)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.design:
        designs(args.design, args.seeds, args.steps)
        return
    task = hourly_task(24)
    windows = task.test  # (points * days, 1, 24) K, point by point
    days = len(windows) // len(task.train)
    series = windows.reshape(len(task.train), days * 24).numpy()  # each point's held-out days
    chronos = [(k + 1 / days, chronos_rmse(series, k)) for k in (24, 12, 8, 6, 4, 3, 2, 1)]
    fsq = fsq_rows(windows)

    print(f"held-out ERA5 {days} days from {task.data.split('test ')[1][:10]}, {len(series)} points, "
          f"{windows.shape[0]} windows of 24 h")
    print("\n| tokens/day | Chronos-style RMSE (K) | FSQ RMSE (K) |\n|---:|---:|---:|")
    table = sorted([(t, f"{r:.3f}", "") for t, r in chronos] + [(t, "", f"{r:.3f}") for t, r, *_ in fsq])
    for t, c, f in table:
        print(f"| {t:.2f} | {c} | {f} |")
    print("\nFSQ vs Chronos-style, tokens/day for the same RMSE:")
    for t, r, *_ in fsq:
        need = tokens_for_rmse(chronos, r)
        print(f"  FSQ {t} tokens/day at {r:.3f} K; Chronos-style needs {need:.1f} tokens/day: {need / t:.1f}x")
    print("\n| tokenizer | encode windows/s (with search) | encoder only | decode windows/s |\n|---|---:|---:|---:|")
    for t, _, enc, fast, dec in fsq:
        print(f"| FSQ hourly, {t} tokens | {enc:,.0f} | {fast:,.0f} | {dec:,.0f} |")
    start = time.perf_counter()
    chronos_rmse(series, 8)
    rate = len(series) * days / (time.perf_counter() - start)
    print(f"| Chronos-style, 8 values/day (encode + decode, numpy + spline) | {rate:,.0f} | | |")
    shipped, _ = load_tokenizer(CHECKPOINT_DIR / "t2m_hourly.safetensors")
    sweep = level_sweep(shipped, windows)
    print("\nt2m_hourly, held-out windows moved to other climates (RMSE K):")
    print("| daily means uniform in | " + " | ".join(f"{k} K" for k in sweep["rmse_k_in_band"]) + " |")
    print("|---|" + "---:|" * len(sweep["rmse_k_in_band"]))
    print("| RMSE K | " + " | ".join(f"{v:.3f}" for v in sweep["rmse_k_in_band"].values()) + " |")
    print("anomalies scaled, daily means uniform over 200..330 K: "
          + ", ".join(f"{k}: {v:.3f} K" for k, v in sweep["rmse_k_at_amplitude"].items()))
    print("\n| image tokenizer | encode tiles/s | decode tiles/s |\n|---|---:|---:|")
    for name, enc, dec in image_rows():
        print(f"| {name} | {enc:.1f} | {dec:.1f} |")
    print("(1 CPU thread; series: a batch of all held-out windows; images: batches of 8 tiles of 224 x 224)")
    print("\n| image tokenizer | test set | FSQ RMSE (196 tokens) | 16-px patch means RMSE (196 floats/band) |")
    print("|---|---|---:|---:|")
    for name, label, fsq_rmse, mean_rmse in image_quality_rows():
        print(f"| {name} | {label} | {fsq_rmse:.4g} | {mean_rmse:.4g} |")


if __name__ == "__main__":
    main()
