"""Field-structure benchmark (issue 13): the within-tile anomaly of generated fields against what a user would
pick instead, on the benchmark world's test split, in one run.

Every test tile and day of truth, scored on the truth's 40 m cells as spatial RMSE (each field minus its tile
mean, K) at the tile's acquisition hour and at every 3rd hour (00, 03, .., 21 UTC):
- a flat field (the anomaly is 0) and the lapse rate over the DEM (-6.5 K/km times the DEM minus its tile mean);
- the regression network of `tm_weather.model.anomaly` (S-2, DEM, time and level features), fitted here on the train split
  as `tm-weather train` fits its mean (the preset's steps, then its relief stage), once per seed (median and range);
- a U-Net baseline with the same inputs (the time features as constant channels, one pass per hour), the same
  backbone, train split and CPU time as the network's fit;
- the shipped checkpoint (`checkpoints/anomaly-<preset>.safetensors`), when there is one;
then the residual noise model's spread against the network's error (spread-skill, 8 members) and how much of the
network's residual the transformer's `t2m_field` tokens could carry (the pattern tokenizer's round trip on it).
The world's oracle inside the tile is printed by `tm-weather world` (BENCHMARKS.md).

    .venv/bin/python benchmarks/field.py [--world demo] [--catalog CATALOG] [--seeds 0 1 2] [--steps N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.catalog import load_catalog
from tm_weather.model import CHECKPOINT_DIR
from tm_weather.model.anomaly import DEM_CHANNEL, DEM_SCALE_M, STATIC_CHANNELS, TIME_FEATURES, UNet, load_anomaly
from tm_weather.model.anomaly_train import (AnomalyData, anomaly_data, dihedral, errors, fit, fit_relief, masked_mse, predict,
                                            spatial_rmse)
from tm_weather.lapse import LAPSE_RATE_K_PER_M
from tm_weather.train import PRESETS

EVERY = 3


def scored_hours(catalog, data: AnomalyData) -> tuple[np.ndarray, np.ndarray]:
    """Bool masks `(n, 24)`: the tile's acquisition hour (to the nearest hour, when on that day), every 3rd hour."""
    acquired = {t.name: np.datetime64(t.time.replace(tzinfo=None), "m") for t in catalog.tiles if t.time}
    at = np.zeros((len(data), 24), bool)
    for i, (name, day) in enumerate(zip(data.tile, data.day)):
        if name in acquired:
            hour = int(np.round((acquired[name] - np.datetime64(day, "m")) / np.timedelta64(60, "m")))
            if 0 <= hour < 24:
                at[i, hour] = True
    every = np.zeros((len(data), 24), bool)
    every[:, ::EVERY] = True
    return at, every


def run_line() -> str:
    """The machine, torch and command a benchmark's printed numbers came from (one thread, as these scripts set)."""
    return (f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, 1 thread; "
            f"command: {' '.join(sys.argv)}")


def anomaly(data: AnomalyData) -> torch.Tensor:
    """The truth minus its tile mean `(n, 24, h, w)` K (NaN where the truth is)."""
    return data.truth - data.truth.nanmean((-2, -1), keepdim=True)


def rmse_at(pred: torch.Tensor, target: torch.Tensor, mask: np.ndarray) -> float:
    return spatial_rmse(pred[torch.from_numpy(mask)], target[torch.from_numpy(mask)])


class HourlyUNet(torch.nn.Module):
    """The baseline: `UNet` over the static inputs and one hour's time features as constant channels ->
    that hour's anomaly `(b, h, w)` K."""

    def __init__(self, width: int):
        super().__init__()
        self.net = UNet(STATIC_CHANNELS + TIME_FEATURES, 1, width)

    def forward(self, static: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """static `(b, C, h, w)`, times `(b, t, F)` -> `(b, t, h, w)`, one pass per hour."""
        out = []
        for t in range(times.shape[1]):
            extra = times[:, t, :, None, None].expand(-1, -1, *static.shape[-2:])
            out.append(self.net(torch.cat([static, extra], 1))[:, 0])
        out = torch.stack(out, 1)
        return out - out.mean((-2, -1), keepdim=True)

    @torch.no_grad()
    def predict(self, data: AnomalyData, batch: int = 8) -> torch.Tensor:
        """The anomaly `(n, 24, h, w)` K of every tile-day of `data`."""
        return torch.cat([self(data.static[i : i + batch], data.times[i : i + batch]) for i in range(0, len(data), batch)])


def fit_unet(train: AnomalyData, cpu_seconds: float, width: int, batch: int, seed: int) -> tuple[HourlyUNet, int]:
    """Fit `HourlyUNet` on random (tile-day, hour) pairs, `batch` per step, for `cpu_seconds` of CPU time."""
    torch.manual_seed(seed)
    net = HourlyUNet(width)
    target_all = anomaly(train)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    start, steps = time.process_time(), 0
    while time.process_time() - start < cpu_seconds:
        idx = torch.randint(0, len(train), (batch,), generator=gen)
        hour = torch.randint(0, 24, (batch,), generator=gen)
        k = int(torch.randint(0, 8, (1,), generator=gen))
        static = dihedral(train.static[idx], k)
        target = dihedral(target_all[idx, hour], k)[:, None]
        loss = masked_mse(net(static, train.times[idx, hour][:, None]), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    return net.eval(), steps


def lapse(data: AnomalyData) -> torch.Tensor:
    """The lapse rate over the DEM `(n, 24, h, w)` K (zero where a tile has no DEM)."""
    height = data.static[:, DEM_CHANNEL] * DEM_SCALE_M  # the DEM minus its tile mean, m
    return (LAPSE_RATE_K_PER_M * height)[:, None].expand(-1, 24, -1, -1)


def pattern_round_trip(residual: torch.Tensor) -> tuple[float, float]:
    """(sd, round-trip RMSE) K of `residual` `(n, h, w)` 40 m cells through the `t2m_field` (pattern) tokenizer
    on the 224 px tile (bilinear up, 4 px block means back)."""
    from tm_weather.model.data import Tokenizers

    tok = Tokenizers.load()
    pixels = F.interpolate(residual[:, None], scale_factor=4, mode="bilinear")
    pixels = pixels - pixels.mean((2, 3), keepdim=True)
    back = F.avg_pool2d(tok.decode("t2m_field", tok.encode("t2m_field", pixels)), 4)[:, 0]
    back = back - back.mean((1, 2), keepdim=True)
    return float(residual.pow(2).mean().sqrt()), float((back - residual).pow(2).mean().sqrt())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", default="demo", choices=("demo", "full"),
                   help="benchmark world preset (seed 0) and training preset, whose regression fit is used")
    p.add_argument("--catalog", type=Path, help="catalog with train/test splits (default: the --world world)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, help="override the fit preset's steps")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--more-train", type=Path, nargs="*", default=[],
                   help="other catalogs whose train splits join the fits (e.g. the world of other seeds: more data)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.catalog is None:
        from tm_weather.world.build import CATALOG
        from tm_weather.world.cache import cached_world

        args.catalog = cached_world(args.world) / CATALOG
    catalog = load_catalog(args.catalog)
    fit_config = PRESETS[args.world].regression
    config = fit_config if args.steps is None else fit_config.with_steps(args.steps)
    train, test = anomaly_data(catalog, "train", config.model.cell_px), anomaly_data(catalog, "test", config.model.cell_px)
    for other in args.more_train:
        more = anomaly_data(load_catalog(other), "train", config.model.cell_px)
        train = AnomalyData(torch.cat([train.static, more.static]), torch.cat([train.times, more.times]),
                            torch.cat([train.truth, more.truth]), train.places + more.places,
                            torch.cat([train.gfs, more.gfs]), torch.cat([train.lead, more.lead]), train.tile + more.tile,
                            np.concatenate([train.day, more.day]), train.cell_m)
    at, every = scored_hours(catalog, test)
    print(f"{args.catalog}: train {len(train)} tile-days, test {len(test)} tile-days "
          f"({int(at.sum())} acquisition hours, {int(every.sum())} 3-hourly maps); fit {config.steps} steps of {config.batch}, "
          f"then {config.relief_steps} relief steps")

    rows: dict[str, list[tuple[float, float]]] = {}
    target = anomaly(test)
    row = lambda pred: (rmse_at(pred, target, at), rmse_at(pred, target, every))  # noqa: E731
    rows["flat field"] = [row(torch.zeros_like(target))]
    rows["lapse rate over the DEM"] = [row(lapse(test))]
    nets, cpu = [], []
    for seed in args.seeds:
        start = time.process_time()
        net = fit_relief(fit(train, replace(config, seed=seed), progress=False), train, replace(config, seed=seed),
                         progress=False)
        cpu.append(time.process_time() - start)
        nets.append(net)
        rows.setdefault("regression network (this fit)", []).append(row(predict(net, test, with_gfs=True)))
        unet, steps = fit_unet(train, cpu[-1], config.model.width, config.batch, seed)
        rows.setdefault("U-Net, same inputs, data and CPU time", []).append(row(unet.predict(test)))
        print(f"seed {seed}: network {config.steps} + {config.relief_steps} relief steps in {cpu[-1]:.0f} s CPU; U-Net "
              f"{steps} steps in the same CPU time")
    shipped = CHECKPOINT_DIR / f"anomaly-{args.world}.safetensors"
    if shipped.exists():
        rows[f"shipped {shipped.name}"] = [row(predict(load_anomaly(shipped).net, test, with_gfs=True))]

    print(f"\n{'within-tile anomaly, test split: spatial RMSE (K)':<50}{'acq. hour':>22}{'every 3 h':>22}{'vs lapse':>10}")
    lapse_every = rows["lapse rate over the DEM"][0][1]
    for label, values in rows.items():
        v = np.array(values)
        cell = lambda c: f"{np.median(v[:, c]):.3f}" + (f" ({v[:, c].min():.3f}-{v[:, c].max():.3f})" if len(v) > 1 else "")  # noqa: E731
        print(f"{label:<50}{cell(0):>22}{cell(1):>22}{np.median(v[:, 1]) / lapse_every:>9.2f}x")
    ours, unet = np.median(np.array(rows["regression network (this fit)"])[:, 1]), np.median(np.array(rows["U-Net, same inputs, data and CPU time"])[:, 1])
    print(f"targets (every 3 h): <= 0.5x lapse: {'met' if ours <= 0.5 * lapse_every else 'NOT met'} "
          f"({ours / lapse_every:.2f}x); within 10 % of the U-Net: {'met' if ours <= 1.1 * unet else 'NOT met'} "
          f"({ours / unet:.2f}x)")

    mean = predict(nets[0], test, with_gfs=True)
    mean = mean - mean.mean((-2, -1), keepdim=True)
    keep = torch.from_numpy(every)
    truth, mean = target[keep], mean[keep]
    pred_sd, truth_sd = float(mean.std((-2, -1)).mean()), float(truth.std((-2, -1)).mean())
    corr = float(torch.corrcoef(torch.stack([mean.flatten(), truth.flatten()]))[0, 1])
    print(f"\nwithin-tile sd, every 3 h: truth {truth_sd:.3f} K, network {pred_sd:.3f} K; correlation {corr:.3f}")
    if shipped.exists():
        model = load_anomaly(shipped)
        noise = torch.from_numpy(model.noise.sample(np.random.default_rng(0), args.members * len(mean), tuple(mean.shape[1:]), test.cell_m, 1.0))
        _, _, log_sd, _ = errors(model.net, test, with_gfs=True)
        cell_sd = log_sd[..., 1].exp()[keep]  # the error model's, per map
        shipped_mean = predict(model.net, test, with_gfs=True)
        shipped_mean = shipped_mean - shipped_mean.mean((-2, -1), keepdim=True)
        members = shipped_mean[keep][:, None] + cell_sd[:, None, None, None] * noise.view(len(mean), args.members, *mean.shape[1:])
        err = (members.mean(1) - truth).pow(2).mean().sqrt()
        spread = members.var(1, correction=1).mean().sqrt() * np.sqrt((args.members + 1) / args.members)
        print(f"residual noise (error model's cell sd {float(cell_sd.pow(2).mean().sqrt()):.3f} K rms, {model.noise.length_m:.0f} m), {args.members} members: "
              f"spread {float(spread):.3f} K, ensemble-mean error {float(err):.3f} K, spread-skill {float(spread / err):.2f}")
    sd, trip = pattern_round_trip(truth - mean)
    print(f"the network's residual through the t2m_field (pattern) tokenizer: sd {sd:.3f} K, round-trip RMSE {trip:.3f} K")
    print(f"\n{run_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
