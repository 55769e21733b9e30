"""Generation benchmark (issue 13): the product's generator against what a user would pick instead, in one run.

On the benchmark world's test split (every `--every`-th valid hour of every test tile and day), all scored on the
truth's 16-px block means (14 x 14 per tile):
- the generator's ensemble (`--members`; regression mean + the transformer's sampled profile residual + residual
  noise, `tm_weather.model.generate.generate_t2m`) conditioned on S-2, NDVI, DEM, GFS, place and time: ensemble-mean
  RMSE, CRPS (fair ensemble CRPS, K), spread, spread-skill and spatial RMSE (each field minus its tile mean);
- the same with Thinking-in-Modalities (LULC generated first), with the true LULC given, and without GFS (the
  climate path a user without a forecast gets); the regression mean alone;
- GFS bilinear + lapse-rate correction to the DEM (`tm_weather.verify.baselines`: nearest-12 h-lead run);
- the GFS series the generator is conditioned on (latest run per hour, lapse-rate corrected to the tile's mean
  DEM height), at the valid hour, as a flat field: the model's own input;
- a direct U-Net regression (S-2 + DEM + that GFS at the valid hour + hour of day -> T2M blocks) trained on the same
  train split for `--unet-seconds` of CPU time (default: the regression network's fit, from its card);
then the share of the learnable gap closed, (GFS input - model) / (GFS input - oracle), with the world's oracle
(`ORACLE_K`), generation latency (one 224 x 224 tile, `--members`), training throughput (`throughput.py`), and the
five real Sentinel-2 tiles in tests/data at their own times and places without GFS, against ERA5's monthly mean.

    .venv/bin/python benchmarks/generation.py [--checkpoint checkpoints/transformer-full.safetensors] [--world full]
        [--every 3] [--members 8] [--unet-seconds S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.catalog import load_catalog
from tm_weather.climatology import packaged
from tm_weather.metrics import block_means
from tm_weather.model import DEFAULT_CHECKPOINT
from tm_weather.model.generate import GenerationConfig, generate_t2m, tile_conditions
from tm_weather.model.generator import Generator
from tm_weather.model.skill import STANDARD, deterministic_score, ensembles, score
from tm_weather.model.transformer import MultiModalTransformer
from tm_weather.shipped import FIXTURES
from tm_weather.tiles import read_tile
from tm_weather.tokenizers.image_data import world_catalog
from tm_weather.train import split_samples

sys.path.insert(0, str(Path(__file__).parent))
from throughput import training_throughput  # noqa: E402  (the benchmarks folder's own module)

REAL = FIXTURES / "sentinel2" / "terramind-examples"
NO_GFS = tuple(c for c in STANDARD if c != "gfs")
#: The full world's oracle (GFS + lapse + the true surface terms minus GFS's grid-scale ones; latest run, leads 0-5 h)
#: on its test split, as `tm-weather world --preset full` (seed 0) prints it (docs/world.md). It needs the world's
#: hidden terms, so only the builder can compute it.
ORACLE_K = 0.93


def spatial(x: np.ndarray) -> np.ndarray:
    """Fields `(..., 14, 14)` minus their own mean over the blocks."""
    return x - x.mean(axis=(-2, -1), keepdims=True)


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
        out[j] = block_means(field)[0]
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
    """Fit the U-Net to `truth - gfs` blocks for `seconds` of CPU time (AdamW, batch 16)."""
    torch.manual_seed(0)
    net = UNet(x.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    target = truth - gfs[:, None, None]
    start, steps = time.process_time(), 0
    while time.process_time() - start < seconds:
        idx = torch.randint(0, len(x), (16,))
        loss = F.mse_loss(net(x[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    print(f"U-Net: {steps} steps in {seconds:.0f} s CPU, last loss {float(loss.detach()):.3f} K^2")
    return net.eval()


def rank_frequencies(ensemble: np.ndarray, truth: np.ndarray) -> list[float]:
    """`ensemble (n, members, 14, 14)`, `truth (n, 14, 14)` K -> the truth's rank histogram over all blocks
    (`metrics.rank_histogram`), relative frequencies of ranks 1..members + 1."""
    import xarray as xr

    from tm_weather import metrics

    fcst = xr.DataArray(ensemble, dims=("sample", metrics.MEMBER, "y", "x"))
    return [float(v) for v in metrics.rank_histogram(fcst, xr.DataArray(truth, dims=("sample", "y", "x"))).values]


def flat(frequencies: list[float]) -> bool:
    """Every rank's frequency within 0.5-1.5 times the uniform one."""
    uniform = 1 / len(frequencies)
    return all(0.5 * uniform <= f <= 1.5 * uniform for f in frequencies)


def plot_ranks(ranks: dict[str, list[float]], path: Path) -> None:
    """One bar chart of rank frequencies per ensemble, the flat line dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ranks), figsize=(4 * len(ranks), 3), squeeze=False, sharey=True)
    for ax, (label, freq) in zip(axes[0], ranks.items()):
        ax.bar(np.arange(1, len(freq) + 1), freq, color="tab:blue")
        ax.axhline(1 / len(freq), color="k", ls="--", lw=1)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("rank of the truth")
    axes[0][0].set_ylabel("relative frequency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--world", default="full", help="benchmark world preset (seed 0): tiny, demo or full")
    p.add_argument("--every", type=int, default=3, help="score every N-th valid hour (default 3)")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="generation seed")
    p.add_argument("--out", type=Path, default=Path("runs/bench-generation"))
    p.add_argument("--samples", type=Path, help="folder of cached split samples (default: runs/transformer-WORLD, "
                   "where `tm-weather train --preset WORLD` left them)")
    p.add_argument("--no-tim", action="store_true", help="leave out the Thinking-in-Modalities run (the slowest: it "
                   "generates LULC first; experiments/tim.py measures it)")
    p.add_argument("--unet-seconds", type=float, default=None,
                   help="U-Net training CPU time (default: the regression network's fit, data reading excluded, "
                   "from its card)")
    args = p.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    generator = Generator.load(args.checkpoint)
    card = yaml.safe_load(args.checkpoint.with_suffix(".yaml").read_text())
    reg_card = yaml.safe_load(generator.regression_path.with_suffix(".yaml").read_text())
    catalog_path = world_catalog(preset=args.world)
    catalog = load_catalog(catalog_path)
    cache = args.samples or Path("runs") / f"transformer-{args.world}"
    cache.mkdir(parents=True, exist_ok=True)
    test = split_samples(catalog_path, "test", generator.tokenizers, generator.regression, cache, print)
    train = split_samples(catalog_path, "train", generator.tokenizers, generator.regression, cache, print)
    rows = [i for i in range(len(test)) if int(test.hour[i]) % args.every == 0 and bool(test.present["gfs"][i])]
    base = gfs_lapse(catalog, test, rows)
    keep = np.isfinite(base).all(axis=(1, 2))
    rows, base = [i for i, k in zip(rows, keep) if k], base[keep]
    truth = test.truth[rows].numpy()
    config = GenerationConfig(members=args.members, seed=args.seed, top_p=1.0)
    print(f"{len(rows)} test samples ({len(set(int(test.tile[i]) for i in rows))} tiles), {args.members} members")

    results, spatial_rmse, regression, ranks = {}, {}, {}, {}
    runs = {"generator (S-2, DEM, GFS, place, time)": dict(conditions_of=STANDARD),
            "generator + TiM (generated LULC)": dict(conditions_of=STANDARD, tim=True),
            "generator + true LULC": dict(conditions_of=STANDARD + ("lulc",)),
            "generator without GFS (S-2, DEM, place, time)": dict(conditions_of=NO_GFS)}
    if args.no_tim:
        del runs["generator + TiM (generated LULC)"]
    for label, kwargs in runs.items():
        start = time.perf_counter()
        ens, means = ensembles(generator, catalog, test, rows, config=config, progress=print, **kwargs)
        results[label] = {**score(ens, truth), "seconds": time.perf_counter() - start}
        spatial_rmse[label] = float(np.sqrt(((spatial(ens.mean(1)) - spatial(truth)) ** 2).mean()))
        regression[label] = means
        ranks[label] = rank_frequencies(ens, truth)
    for label, with_gfs in (("regression mean alone (with GFS)", STANDARD), ("regression mean alone (without GFS)", NO_GFS)):
        means = regression[next(k for k, v in runs.items() if v["conditions_of"] == with_gfs and not v.get("tim"))]
        results[label] = deterministic_score(means, truth)
        spatial_rmse[label] = float(np.sqrt(((spatial(means) - spatial(truth)) ** 2).mean()))
    results["GFS + lapse rate"] = deterministic_score(base, truth)
    spatial_rmse["GFS + lapse rate"] = float(np.sqrt(((spatial(base) - spatial(truth)) ** 2).mean()))
    picked = torch.tensor(rows)
    series = test.gfs[picked, test.hour[picked]][:, None, None].expand(-1, 14, 14).numpy()
    gfs_input = "GFS series at the tile centre + lapse rate (the model's GFS input)"
    results[gfs_input] = deterministic_score(series, truth)
    spatial_rmse[gfs_input] = float(np.sqrt((spatial(truth) ** 2).mean()))

    tiles: dict = {}
    x_train, gfs_train = unet_inputs(catalog, train, tiles)
    fit = reg_card["fit"]
    budget = float(fit["cpu_seconds"] - fit["cpu_seconds_reading_data"]) if args.unet_seconds is None else args.unet_seconds
    net = train_unet(x_train, gfs_train, train.truth, budget)
    x_test, gfs_test = unet_inputs(catalog, test.select(torch.tensor(rows)), tiles)
    with torch.no_grad():
        pred = (net(x_test) + gfs_test[:, None, None]).numpy()
    unet_label = "U-Net regression (S-2, DEM, GFS, hour)"
    results[unet_label] = {**deterministic_score(pred, truth), "train_seconds": budget}
    spatial_rmse[unet_label] = float(np.sqrt(((spatial(pred) - spatial(truth)) ** 2).mean()))

    # latency: one tile, all members, standard conditioning, the product's whole path
    i = rows[0]
    name = test.tiles[int(test.tile[i])]
    entry = next(t for t in catalog.tiles if t.name == name)
    tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), None, None, entry.boa_add_offset, name)
    from tm_weather.tiles import GFSInput

    gfs = GFSInput(test.gfs[i].numpy(), test.lead[i].numpy())
    valid = np.datetime64(int(test.valid[i]), "h")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        generate_t2m(generator.model, generator.tokenizers, generator.regression, tile,
                     tile_conditions(tile, generator.tokenizers, valid, gfs), valid, config, gfs)
        times.append(time.perf_counter() - start)
    latency = float(np.median(times))
    throughput = training_throughput(MultiModalTransformer(generator.model.config), train.tokens, train.present, batch=16, steps=20)

    real = []
    for s2 in sorted((REAL / "S2L2A").glob("*.tif")):
        tile = read_tile(s2, REAL / "DEM" / s2.name, REAL / "LULC" / s2.name, boa_add_offset=0)
        field, hourly, _, _ = generate_t2m(generator.model, generator.tokenizers, generator.regression, tile,
                                           tile_conditions(tile, generator.tokenizers, tile.acquired), tile.acquired, config)
        era5 = float(packaged().months(tile.lat, tile.lon)[int(str(tile.acquired)[5:7]) - 1])
        day_mean = float(hourly.mean())
        real.append({"tile": s2.stem, "lat": tile.lat, "lon": tile.lon, "time": str(tile.acquired)[:16],
                     "field_mean": float(field.mean()), "day_mean": day_mean, "era5_month": era5,
                     "difference": day_mean - era5, "within_sd": float(field.mean(0).std()),
                     "spread": float(field.std(0).mean())})

    unet = results[unet_label]
    main_label = "generator (S-2, DEM, GFS, place, time)"
    model_rmse, input_rmse = results[main_label]["rmse"], results[gfs_input]["rmse"]
    gap = (input_rmse - model_rmse) / (input_rmse - ORACLE_K)
    lines = [f"checkpoint {args.checkpoint.name} (sha256 {card['sha256'][:12]}), regression {generator.regression_path.name} "
             f"(sha256 {generator.regression.sha256[:12]}), world {args.world} seed 0 test split, {len(rows)} samples "
             f"(every {args.every} h), {args.members} members, seed {args.seed}, U-Net trained {budget:.0f} s CPU",
             "", "| system | RMSE K | MAE K | bias K | CRPS K | spread K | spread-skill | spatial RMSE K | RMSE / GFS input | RMSE / U-Net |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in results.items():
        lines.append(f"| {label} | {r['rmse']:.3f} | {r['mae']:.3f} | {r['bias']:+.3f} | {r.get('crps', float('nan')):.3f} | "
                     f"{r.get('spread', float('nan')):.3f} | {r.get('spread_skill', float('nan')):.2f} | {spatial_rmse[label]:.3f} | "
                     f"{r['rmse'] / input_rmse:.2f} | {r['rmse'] / unet['rmse']:.2f} |")
    main_r = results[main_label]
    no_gfs = results["generator without GFS (S-2, DEM, place, time)"]
    real_abs = [abs(r["difference"]) for r in real]
    targets = [
        ("ensemble-mean RMSE with GFS below the model's GFS input", model_rmse < input_rmse, f"{model_rmse:.3f} vs {input_rmse:.3f} K"),
        ("... and below the U-Net", model_rmse < unet["rmse"], f"{model_rmse:.3f} vs {unet['rmse']:.3f} K"),
        ("share of the learnable gap closed >= 0.6", gap >= 0.6, f"{gap:.2f} (oracle {ORACLE_K} K)"),
        ("spatial RMSE <= 0.5x GFS + lapse over the DEM", spatial_rmse[main_label] <= 0.5 * spatial_rmse["GFS + lapse rate"],
         f"{spatial_rmse[main_label]:.3f} vs {spatial_rmse['GFS + lapse rate']:.3f} K ({spatial_rmse[main_label] / spatial_rmse['GFS + lapse rate']:.2f}x)"),
        ("spatial RMSE within 10 % of the U-Net", spatial_rmse[main_label] <= 1.1 * spatial_rmse[unet_label],
         f"{spatial_rmse[main_label]:.3f} vs {spatial_rmse[unet_label]:.3f} K"),
        ("CRPS <= 0.8x the U-Net's MAE", main_r["crps"] <= 0.8 * unet["mae"], f"{main_r['crps']:.3f} vs 0.8 x {unet['mae']:.3f} K"),
        ("spread-skill 0.8-1.2", 0.8 <= main_r["spread_skill"] <= 1.2, f"{main_r['spread_skill']:.3f}"),
        (f"flat rank histogram: every rank 0.5-1.5x of 1/{args.members + 1}", flat(ranks[main_label]),
         f"{min(ranks[main_label]) * (args.members + 1):.2f}-{max(ranks[main_label]) * (args.members + 1):.2f}x"),
        ("without GFS: RMSE <= 2.5 K", no_gfs["rmse"] <= 2.5, f"{no_gfs['rmse']:.3f} K"),
        ("real tiles within 4 K of ERA5's monthly mean (mean abs), none beyond 6 K",
         np.mean(real_abs) <= 4 and max(real_abs) <= 6, f"mean {np.mean(real_abs):.2f} K, largest {max(real_abs):.2f} K"),
        ("latency, one tile, 8 members <= 2 s", latency <= 2, f"{latency:.2f} s"),
    ]
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {t} | {'yes' if ok else 'NO'} | {m} |" for t, ok, m in targets]
    lines += ["", f"generation latency, one 224 x 224 tile, {args.members} members (regression + residual + noise): {latency:.2f} s",
              f"training throughput ({generator.model.config.width}-wide tiny, batch 16): {throughput:.1f} samples/s",
              "", "| real tile | lat | lon | time UTC | field mean K | day mean K | ERA5 month mean K | day - ERA5 K | within-tile sd K | spread K |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['tile']} | {r['lat']:.2f} | {r['lon']:.2f} | {r['time']} | {r['field_mean']:.1f} | {r['day_mean']:.1f} | "
              f"{r['era5_month']:.1f} | {r['difference']:+.1f} | {r['within_sd']:.2f} | {r['spread']:.2f} |" for r in real]
    lines += ["", f"rank histograms (relative frequency of the truth's rank among {args.members} members, ranks 1-"
              f"{args.members + 1}; flat: {1 / (args.members + 1):.3f} each; figure: {args.out / 'rank_histograms.png'}):"]
    lines += [f"- {label}: " + " ".join(f"{f:.3f}" for f in freq) for label, freq in ranks.items()]
    plot_ranks(ranks, args.out / "rank_histograms.png")
    text = "\n".join(lines)
    print(text)
    (args.out / "generation.md").write_text(text + "\n")
    (args.out / "generation.json").write_text(json.dumps({"results": results, "spatial_rmse": spatial_rmse, "gap_closed": gap,
                                                          "latency_s": latency, "train_samples_per_s": throughput,
                                                          "rank_histograms": ranks,
                                                          "real": real, "targets": [(t, bool(ok), m) for t, ok, m in targets]},
                                                         indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
