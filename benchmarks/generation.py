"""Generation benchmark (issue 5): the shared transformer against what a user would pick instead, in one run.

On the benchmark world's test split (every `--every`-th valid hour of every test tile and day), all scored on the
truth's 16-px block means (14 x 14 per tile):
- the transformer's ensemble (`--members`) conditioned on S-2, NDVI, DEM, GFS, place and time: ensemble-mean RMSE,
  CRPS (fair ensemble CRPS, K) and spread;
- the same with Thinking-in-Modalities (LULC generated first and fed back), with the true LULC given, and
  without GFS (the absolute-profile path a user without a forecast gets);
- GFS bilinear + lapse-rate correction to the DEM (`tm_weather.verify.baselines`: nearest-12 h-lead run);
- the GFS series the transformer is conditioned on (lapse-rate corrected to the tile's mean DEM height), at the
  valid hour, as a flat field (what the transformer adds to its own GFS input);
- a direct U-Net regression (S-2 + DEM + that GFS at the valid hour + hour of day -> T2M blocks) trained on the same
  train split for the same wall-clock time as the transformer's card records;
then generation latency (one 224 x 224 tile, `--members`), training throughput (`throughput.py`), and the five real Sentinel-2 tiles
in tests/data at their own times and places (a plausibility table, no truth).

    .venv/bin/python benchmarks/generation.py [--checkpoint checkpoints/transformer-demo.safetensors] [--world full]
        [--every 6] [--members 8] [--steps 8] [--seeds 0 1 2] [--unet-seconds S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.catalog import load_catalog
from tm_weather.model import DEFAULT_CHECKPOINT
from tm_weather.model.data import Tokenizers, block_means
from tm_weather.tiles import read_tile
from tm_weather.model.generate import GenerationConfig, generate_t2m, tile_conditions
from tm_weather.model.skill import STANDARD, deterministic_score, ensembles, score
from tm_weather.model.transformer import MultiModalTransformer, load_model
from tm_weather.train import default_world, split_samples

sys.path.insert(0, str(Path(__file__).parent))
from throughput import training_throughput  # noqa: E402  (the benchmarks folder's own module)

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "sentinel2" / "terramind-examples"
NO_GFS = tuple(c for c in STANDARD if c != "gfs")


def gfs_lapse(catalog, test, rows) -> np.ndarray:
    """GFS + lapse-rate blocks `(n, 14, 14)` K from the verification baselines; NaN where the run it needs (lead
    nearest 12 h) is not in the catalog (valid hours early on an episode's first day)."""
    from tm_weather.errors import InputError
    from tm_weather.sources import open_source
    from tm_weather.verify.baselines import GFSRuns, TileCase

    runs = GFSRuns(open_source("gfs", catalog.sources["gfs"], catalog))
    grids = {}
    out = np.full((len(rows), 14, 14), np.nan, np.float32)
    for j, i in enumerate(rows):
        name = test.tiles[int(test.tile[i])]
        grids.setdefault(name, TileCase.train(catalog, name, np.zeros(1, "timedelta64[ns]")).grid)
        valid = np.array([np.datetime64(int(test.valid[i]), "h")], dtype="datetime64[ns]")
        case = TileCase.of(catalog, name, grids[name], valid, np.zeros(1, "timedelta64[ns]"))
        try:
            field = runs.field(case, lapse=True).values.astype(np.float32)
        except InputError:
            continue
        out[j] = block_means(torch.from_numpy(field)).numpy()[0]
    return out


class UNet(nn.Module):
    """A small U-Net `(b, 16, 56, 56)` -> T2M residual blocks `(b, 14, 14)`: two levels, widths 32 and 64."""

    def __init__(self, c_in: int = 16, w: int = 32):
        super().__init__()
        block = lambda a, b: nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.GELU(), nn.Conv2d(b, b, 3, padding=1), nn.GELU())  # noqa: E731
        self.down1, self.down2, self.mid = block(c_in, w), block(w, 2 * w), block(2 * w, 2 * w)
        self.up2, self.up1 = block(4 * w, w), block(2 * w, w)
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.down1(x)
        b = self.down2(F.max_pool2d(a, 2))
        c = self.mid(F.max_pool2d(b, 2))
        b = self.up2(torch.cat([b, F.interpolate(c, scale_factor=2)], 1))
        a = self.up1(torch.cat([a, F.interpolate(b, scale_factor=2)], 1))
        return F.avg_pool2d(self.head(a), 4)[:, 0]


def unet_inputs(catalog, samples, tiles: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """U-Net inputs `(n, 16, 56, 56)` (12 S-2 bands, DEM km, GFS anomaly / 10 K, sin and cos of the hour) and
    GFS at the valid hour `(n,)` K."""
    gfs = samples.gfs[torch.arange(len(samples)), samples.hour]
    images = {}
    for name in samples.tiles:
        if name not in tiles:
            entry = next(t for t in catalog.tiles if t.name == name)
            tiles[name] = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), None, None, entry.boa_add_offset)
        t = tiles[name]
        stack = np.concatenate([t.reflectance, t.dem[None] / 1000.0]).astype(np.float32)
        images[name] = F.avg_pool2d(torch.from_numpy(stack)[None], 4)[0]
    x = torch.stack([images[samples.tiles[int(i)]] for i in samples.tile])
    angle = 2 * np.pi * samples.hour.float() / 24
    extra = torch.stack([(gfs - 280) / 10, angle.sin(), angle.cos()], 1)[:, :, None, None].expand(-1, -1, 56, 56)
    return torch.cat([x, extra], 1), gfs


def train_unet(x, gfs, truth, seconds: float) -> UNet:
    """Fit the U-Net to `truth - gfs` blocks for `seconds` of wall time (AdamW, batch 16)."""
    torch.manual_seed(0)
    net = UNet(x.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    target = truth - gfs[:, None, None]
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        idx = torch.randint(0, len(x), (16,))
        loss = F.mse_loss(net(x[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    print(f"U-Net: {steps} steps in {seconds:.0f} s, last loss {float(loss.detach()):.3f} K^2")
    return net.eval()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--world", default="full", help="benchmark world preset (seed 0): tiny, demo or full")
    p.add_argument("--every", type=int, default=6, help="score every N-th valid hour (default 6)")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="generation seeds of the standard transformer run (sampling noise; TiM and true LULC use the first)")
    p.add_argument("--out", type=Path, default=Path("runs/bench-generation"))
    p.add_argument("--samples", type=Path, help="folder of cached split samples (default: runs/transformer-WORLD, "
                   "where `tm-weather train --preset WORLD` left them)")
    p.add_argument("--unet-seconds", type=float, default=None,
                   help="U-Net training wall time (default: the transformer's, from its card)")
    args = p.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    model, meta = load_model(args.checkpoint)
    card = yaml.safe_load(args.checkpoint.with_suffix(".yaml").read_text())
    tokenizers = Tokenizers.load()
    catalog_path = default_world(args.world)
    catalog = load_catalog(catalog_path)
    cache = args.samples or Path("runs") / f"transformer-{args.world}"
    cache.mkdir(parents=True, exist_ok=True)
    test = split_samples(catalog_path, "test", tokenizers, cache, print)
    train = split_samples(catalog_path, "train", tokenizers, cache, print)
    rows = [i for i in range(len(test)) if int(test.hour[i]) % args.every == 0 and bool(test.present["gfs"][i])]
    base = gfs_lapse(catalog, test, rows)
    keep = np.isfinite(base).all(axis=(1, 2))
    rows, base = [i for i, k in zip(rows, keep) if k], base[keep]
    truth = test.truth[rows].numpy()
    config = GenerationConfig(members=args.members, steps=args.steps)
    print(f"{len(rows)} test samples ({len(set(int(test.tile[i]) for i in rows))} tiles), {args.members} members")

    results = {}
    standard = {seed: f"transformer (S-2, DEM, GFS, place, time), seed {seed}" for seed in args.seeds}
    runs = {label: (seed, dict(conditions_of=STANDARD)) for seed, label in standard.items()}
    runs |= {"transformer + TiM (generated LULC)": (args.seeds[0], dict(conditions_of=STANDARD, tim=True)),
             "transformer + true LULC": (args.seeds[0], dict(conditions_of=STANDARD + ("lulc",))),
             "transformer without GFS (S-2, DEM, place, time)": (args.seeds[0], dict(conditions_of=NO_GFS))}
    for label, (seed, kwargs) in runs.items():
        start = time.perf_counter()
        ens = ensembles(model, tokenizers, test, rows, config=replace(config, seed=seed), progress=print, **kwargs)
        results[label] = {**score(ens, truth), "seconds": time.perf_counter() - start}
    results["GFS + lapse rate"] = deterministic_score(base, truth)
    picked = torch.tensor(rows)
    series = test.gfs[picked, test.hour[picked]][:, None, None].expand(-1, 14, 14).numpy()
    results["GFS series at the tile centre + lapse rate (the model's GFS input)"] = deterministic_score(series, truth)

    tiles: dict = {}
    x_train, gfs_train = unet_inputs(catalog, train, tiles)
    budget = float(card["train"]["seconds"]) if args.unet_seconds is None else args.unet_seconds
    net = train_unet(x_train, gfs_train, train.truth, budget)
    x_test, gfs_test = unet_inputs(catalog, test.select(torch.tensor(rows)), tiles)
    with torch.no_grad():
        pred = (net(x_test) + gfs_test[:, None, None]).numpy()
    results["U-Net regression (S-2, DEM, GFS, hour)"] = {**deterministic_score(pred, truth), "train_seconds": budget}

    # latency: one tile, all members, standard conditioning, field + profile
    i = rows[0]
    cond = {k: test.tokens[k][i] for k in STANDARD}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        generate_t2m(model, tokenizers, cond, 12, config, test.gfs[i])
        times.append(time.perf_counter() - start)
    latency = float(np.median(times))
    throughput = training_throughput(MultiModalTransformer(model.config), train.tokens, train.present, batch=16, steps=20)

    real = []
    for s2 in sorted((REAL / "S2L2A").glob("*.tif")):
        tile = read_tile(s2, REAL / "DEM" / s2.name, REAL / "LULC" / s2.name, boa_add_offset=0)
        hour = int((tile.acquired - tile.acquired.astype("datetime64[D]")) // np.timedelta64(1, "h"))
        field, hourly, _ = generate_t2m(model, tokenizers, tile_conditions(tile, tokenizers, tile.acquired), hour, config)
        field, hourly = field.numpy(), hourly.numpy()
        hourly = hourly.mean(0)
        real.append((s2.stem, f"{tile.lat:.2f}", f"{tile.lon:.2f}", str(tile.acquired)[:16], f"{field.mean():.1f}",
                     f"{field.mean(0).std():.2f}", f"{field.std(0).mean():.2f}", f"{hourly.min():.1f}..{hourly.max():.1f}"))

    gfs_rmse = results["GFS + lapse rate"]["rmse"]
    unet = results["U-Net regression (S-2, DEM, GFS, hour)"]
    lines = [f"checkpoint {args.checkpoint.name} (sha256 {card['sha256'][:12]}), world {args.world} seed 0 test split, "
             f"{len(rows)} samples (every {args.every} h), {args.members} members, {args.steps} steps, "
             f"U-Net trained {budget:.0f} s",
             "", "| system | RMSE K | MAE K | bias K | CRPS K | spread K | spread-skill | RMSE / GFS+lapse | RMSE / U-Net |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, r in results.items():
        lines.append(f"| {label} | {r['rmse']:.3f} | {r['mae']:.3f} | {r['bias']:+.3f} | {r.get('crps', float('nan')):.3f} | "
                     f"{r.get('spread', float('nan')):.3f} | {r.get('spread_skill', float('nan')):.2f} | "
                     f"{r['rmse'] / gfs_rmse:.2f} | {r['rmse'] / unet['rmse']:.2f} |")
    seed_rmse = [results[label]["rmse"] for label in standard.values()]
    lines += ["", f"transformer over seeds {args.seeds}: RMSE {np.mean(seed_rmse):.3f} K mean "
              f"({min(seed_rmse):.3f}..{max(seed_rmse):.3f}) = {np.mean(seed_rmse) / gfs_rmse:.3f}x GFS+lapse "
              f"({min(seed_rmse) / gfs_rmse:.3f}..{max(seed_rmse) / gfs_rmse:.3f}x)"]
    lines += ["", f"generation latency, one 224 x 224 tile, {args.members} members (field + profile, decoded): {latency:.2f} s",
              f"training throughput ({model.config.width}-wide tiny, batch 16, 96 + 48 tokens): {throughput:.1f} samples/s",
              "", "| real tile | lat | lon | time UTC | mean K | within-tile sd K | ensemble spread K | hourly mean K |",
              "|---|---|---|---|---|---|---|---|"] + ["| " + " | ".join(r) + " |" for r in real]
    text = "\n".join(lines)
    print(text)
    (args.out / "generation.md").write_text(text + "\n")
    (args.out / "generation.json").write_text(json.dumps({"results": results, "seed_mean_rmse": float(np.mean(seed_rmse)),
                                                          "latency_s": latency,
                                                          "train_samples_per_s": throughput}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
