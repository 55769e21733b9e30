"""Fitting `tm_weather.model.anomaly` on a catalog: the within-tile anomaly's regression network and its residual
noise model, resumable, with a progress bar and a model card.

    catalog (the benchmark world's or a user's own) -> `anomaly_data` per split: every tile and whole UTC day of
      truth, regridded onto the tile's 40 m cells (bilinear: exact for the world's 40 m truth)
    -> `holdout`: the train split's tiles, `FitConfig.holdout` of them kept out of the mean's fit
    -> `fit`: the mean; loss `fit_loss` (the tile level's squared error + `WITHIN_WEIGHT` x the within-tile one);
       AdamW + cosine schedule on random tile-days (the 8 flips and quarter turns, the DEM dropped
       from `dem_dropout` of them, GFS withheld from `gfs_dropout` of them), state saved every `save_every` steps
       to `<run>/anomaly-last.pt` (resume)
    -> `fit_relief`: the relief prior: only the hourly weights of the basis maps are trained further, on the same
       loss + `RELIEF_WEIGHT` x the squared departure from the lapse rate of the mean's response to random relief
       added to the DEM (`relief_departure`): where the data show no height term beyond the lapse rate (the full
       world by day), relief the catalog never had is drawn by the lapse rate; state in `<run>/anomaly-relief.pt`
    -> `fit_error`: the error model on the held-out tiles' errors, with GFS and without; `ResidualNoise.fit` on
       their residuals -> `anomaly-<preset>.safetensors` + `.yaml` (the card, with the val split's scores)

Why the error model learns from held-out train tiles and not from the val split: it must see errors of tiles the
mean never fitted, and many places. The full world's val split has 40 locations in 8 regions; its errors are
larger than the test split's (tile level 0.849 against 0.593 K with GFS, inside the tile 0.594 against 0.428 K)
because its places are harder (the truth's within-tile sd 0.718 against 0.548 K), so a spread fitted to it was
too wide on test (spread-skill 1.48). A share of the train split's tiles spans most of its regions.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from affine import Affine
from tqdm import tqdm

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.lapse import LAPSE_RATE_K_PER_M
from tm_weather.model.anomaly import (DEM_CHANNEL, DEM_SCALE_M, AnomalyConfig, AnomalyModel, AnomalyNet, Place, ResidualNoise,
                                      daylight, gaussian_smooth, gfs_given, level_features, static_inputs,
                                      time_features)


#: The one-cycle schedule's shortest run: a warm-up and a decay of at least two steps each.
MIN_STEPS = 4
#: The within-tile error's weight against the tile level's in the mean's loss (`fit_loss`). The level's error is
#: several times the within-tile one, so at weight 1 the shared U-Net learns mostly the level and underfits the
#: within-tile terms (as much on its own training tiles as on unseen ones). 1,000-step fits on the full world, the
#: test split's within-tile RMSE (every 3 h, with GFS) at weights 1, 5, 15, 40: 0.470, 0.411, 0.404, 0.397 K, the
#: tile level's 0.73, 0.73, 0.69, 0.71 K (BENCHMARKS.md, Field structure).
WITHIN_WEIGHT = 15.0
#: The mean's gradient norm is clipped to this (`torch.nn.utils.clip_grad_norm_`). Only a pathological step reaches
#: it: on a 450 tile-day catalog with other physics (experiments/other_physics.py) the norms were 10-150, until one
#: batch at step 1,054 gave 1.2e8, after which AdamW's second moments froze the fit (0.601 against 0.551 K for
#: 1,000 steps inside the tile; EXPERIMENTS.md, Other physics). Below the limit the gradients are multiplied by
#: exactly 1, so fits that never reach it are unchanged bit for bit.
CLIP_NORM = 1000.0
#: The relief prior's weight against the data in `fit_relief` (the squared departure from the lapse rate, K^2, as
#: the within-tile error's weight `WITHIN_WEIGHT`: a relief the catalog never had counts as a within-tile truth).
#: The full world's relief inside a tile is a 0.09 K term with a strong night signal (cold pools: +2.1 K per 100 m
#: above the lapse rate at 02-04 h local, correlation +0.40) and none by day (+0.1 K per 100 m, +0.03); fitted
#: without it, the night's response leaked into the day through the shared basis maps, and fits of the same recipe
#: drew a bare 120 m hill at 13 h anywhere from 1.9 K cooler to 0.5 K warmer at its top than its foot (the lapse
#: rate gives 0.78 K). BENCHMARKS.md, Field structure, "The relief prior".
RELIEF_WEIGHT = 15.0
#: The random relief of `random_relief`: Gaussian-smoothed white noise of sigma (cells) and sd (hm) drawn
#: uniformly from these ranges: 60-480 m wide and 20-150 m high on 40 m cells.
RELIEF_SIGMA_CELLS = (1.5, 12.0)
RELIEF_SD_HM = (0.2, 1.5)


@dataclass(frozen=True)
class FitConfig:
    """One fit: `steps` of `batch` tile-days, learning rate, weight decay, the share of samples with the DEM
    removed (so tiles without one still get the land-cover terms), the share with GFS withheld (so the network
    also serves a user without a forecast: the climate is then its base), checkpoint interval, seed, the share
    of the train split's tiles held out of the mean's fit for the error model (`holdout`; at least one tile) and
    the error model's full-batch steps (`error_steps`), threads, the within-tile error's weight in the loss
    (`within_weight`, `fit_loss`), the gradient norm's clip (`clip_norm`, `CLIP_NORM`), and the relief stage's
    steps, learning rate and prior weight (`fit_relief`; `relief_steps` 0: no relief stage)."""

    steps: int
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dem_dropout: float = 0.2
    gfs_dropout: float = 0.3
    save_every: int = 200
    seed: int = 0
    holdout: float = 0.1
    error_steps: int = 150
    threads: int = 1
    within_weight: float = WITHIN_WEIGHT
    clip_norm: float = CLIP_NORM
    relief_steps: int = 3000
    relief_lr: float = 5e-3
    relief_weight: float = RELIEF_WEIGHT
    model: AnomalyConfig = AnomalyConfig()

    def with_steps(self, steps: int) -> FitConfig:
        """This fit shortened or lengthened to `steps` of the mean, its relief stage in proportion."""
        relief = self.relief_steps and max(MIN_STEPS, round(self.relief_steps * steps / self.steps))
        return replace(self, steps=steps, relief_steps=relief)

    def __post_init__(self):
        if self.steps < MIN_STEPS or self.batch < 1 or 0 < self.relief_steps < MIN_STEPS:
            raise ValueError(f"a fit needs at least {MIN_STEPS} steps (a relief stage 0 or at least {MIN_STEPS}) and "
                             f"a batch of 1: {self}")


@dataclass
class AnomalyData:
    """`n` tile-days: `static` `(n, STATIC_CHANNELS, h, w)` (`static_inputs`), `times` `(n, 24, TIME_FEATURES)`,
    `truth` `(n, 24, h, w)` K the truth at the cells (NaN where missing), `places` the tiles' `Place`s over the
    day, `gfs` `(n, 24)` K the GFS input (`tiles.gfs_series`; NaN where the catalog has none), `lead` `(n, 24)` h,
    `tile` `(n,)` names, `day` `(n,)` datetime64[D], `cell_m` the cells' size (m); `valid_hours` `(n, 24)`
    datetime64[h]."""

    static: torch.Tensor
    times: torch.Tensor
    truth: torch.Tensor
    places: list[Place]
    gfs: torch.Tensor
    lead: torch.Tensor
    tile: list[str]
    day: np.ndarray
    cell_m: float

    def levels(self, index, with_gfs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Level features `(b, 24, LEVEL_FEATURES)` and bases `(b, 24)` K of the tile-days `index` `(b,)`, with GFS
        where `with_gfs` `(b,)` bool and the day has it."""
        out = [level_features(self.places[i], self.gfs[i].numpy(), self.lead[i].numpy())
               if bool(w) and bool(torch.isfinite(self.gfs[i]).all()) else level_features(self.places[i], None, None)
               for i, w in zip(index.tolist(), with_gfs.tolist())]
        return torch.stack([f for f, _ in out]), torch.stack([b for _, b in out])

    def __len__(self) -> int:
        return len(self.tile)

    def subset(self, index: np.ndarray) -> AnomalyData:
        """The tile-days `index` `(k,)` int."""
        i = torch.as_tensor(np.asarray(index, np.int64))
        return AnomalyData(self.static[i], self.times[i], self.truth[i], [self.places[j] for j in index],
                           self.gfs[i], self.lead[i], [self.tile[j] for j in index], self.day[np.asarray(index)],
                           self.cell_m)

    @property
    def valid_hours(self) -> np.ndarray:
        return self.day.astype("datetime64[h]")[:, None] + np.arange(24) * np.timedelta64(1, "h")


def anomaly_data(catalog, split: str, cell_px: int = AnomalyConfig.cell_px, progress=None) -> AnomalyData:
    """Every tile of `split` and whole UTC day of truth in its dates (`model.data.split_window`, `whole_days`)."""
    from tm_weather.series import regrid_to_tile
    from tm_weather.tiles import gfs_or_none, gfs_source, read_tile, split_window, truth_source, whole_days

    tiles, lo, hi = split_window(catalog, split)
    source = gfs_source(catalog)
    runs: dict = {}
    static, times, truths, places, gfs, leads, names, days, sizes = [], [], [], [], [], [], [], [], []
    for entry in tqdm(tiles, desc=f"anomaly data: {split}", disable=progress is None, leave=False):
        tile = read_tile(catalog.path(entry.s2), entry.dem and catalog.path(entry.dem), None,
                         entry.time and np.datetime64(entry.time.replace(tzinfo=None), "ns"), entry.boa_add_offset,
                         entry.name)
        ny, nx = tile.grid.shape
        cells = tile.grid.transform @ Affine.scale(cell_px)
        inputs = static_inputs(tile.reflectance, tile.dem, cell_px)
        truth = truth_source(catalog, entry.name)
        for day in whole_days(truth, lo, hi):
            hours = np.datetime64(day, "ns") + np.arange(24) * np.timedelta64(1, "h")
            field = regrid_to_tile(truth(hours), tile.grid.crs, cells, (ny // cell_px, nx // cell_px))
            truths.append(torch.from_numpy(np.asarray(field.transpose("time", "y", "x").values, np.float32)))
            places.append(Place.at(tile.lat, tile.lon, hours, tile.dem))
            series = gfs_or_none(source, runs, day, tile)
            gfs.append(torch.full((24,), torch.nan) if series is None else torch.from_numpy(series.values))
            leads.append(torch.zeros(24) if series is None else torch.from_numpy(series.lead.astype(np.float32)))
            static.append(inputs)
            times.append(time_features(hours, tile.lat, tile.lon))
            names.append(entry.name)
            days.append(np.datetime64(day, "D"))
            sizes.append(abs(cells.a))
    if not names:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "whole UTC days of truth on its tiles", "none")
    return AnomalyData(torch.stack(static), torch.stack(times), torch.stack(truths), places, torch.stack(gfs),
                       torch.stack(leads), names, np.array(days), float(np.mean(sizes)))


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips and quarter turns (`k` in 0..7) of maps `(..., h, w)`."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (K^2) over the finite targets."""
    ok = torch.isfinite(target)
    return F.mse_loss(pred[ok], target[ok])


def fit_loss(pred: torch.Tensor, target: torch.Tensor, within_weight: float) -> torch.Tensor:
    """The mean's loss (K^2) on fields `(b, t, h, w)` K: the tile level's squared error (each map's mean against
    the mean of its finite targets) + `within_weight` x the within-tile one (`masked_mse` of each map minus its
    mean). At weight 1 it is the field's mean squared error."""
    ok = torch.isfinite(target)
    target_level = torch.where(ok, target, 0.0).sum((-2, -1)) / ok.sum((-2, -1)).clamp_min(1)
    has = ok.any(-1).any(-1)
    pred_level = pred.mean((-2, -1))
    level = F.mse_loss(pred_level[has], target_level[has])
    return level + within_weight * masked_mse(pred - pred_level[..., None, None], target - target_level[..., None, None])


def fit(train: AnomalyData, config: FitConfig, state_path: Path | None = None, progress: bool = True) -> AnomalyNet:
    """Train an `AnomalyNet` on `train` for `config.steps` steps, resuming from `state_path` when it exists
    (weights, optimiser, schedule, step and random state, saved there every `config.save_every` steps)."""
    torch.manual_seed(config.seed)
    net = AnomalyNet(config.model)
    net.standardise(train.static)
    mean_parameters = [p for name, p in net.named_parameters() if not name.startswith("error.")]
    gen = torch.Generator().manual_seed(config.seed)

    def batch_loss() -> tuple[torch.Tensor, dict[str, str]]:
        static, times, levels, target = draw_batch(train, config, gen)
        loss = fit_loss(net(static, times, levels), target, config.within_weight)
        return loss, {"loss": f"{float(loss.detach()):.4f} K^2"}

    return optimise(net, mean_parameters, config.steps, config.lr, config, gen, state_path, "anomaly network", progress,
                    batch_loss)


def optimise(net: AnomalyNet, parameters: list[torch.Tensor], steps: int, lr: float, config: FitConfig,
             gen: torch.Generator, state_path: Path | None, desc: str, progress: bool, batch_loss) -> AnomalyNet:
    """The loop `fit` and `fit_relief` share: AdamW (`config.weight_decay`) on `parameters` with a one-cycle
    schedule peaking at `lr` over `steps` steps of `batch_loss()` -> (loss, progress-bar fields), gradients clipped
    to `config.clip_norm`; resumed from `state_path` when it exists (with `gen`, the batches' random state) and
    saved there every `config.save_every` steps and at the end."""
    opt = torch.optim.AdamW(parameters, lr=lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=max(0.05, 3 / steps))
    start = load_state(state_path, net, opt, sched, gen)
    net.train()
    bar = tqdm(range(start, steps), desc=desc, initial=start, total=steps, disable=not progress)
    for step in bar:
        loss, shown = batch_loss()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, config.clip_norm)
        opt.step()
        sched.step()
        bar.set_postfix(shown)
        if state_path and ((step + 1) % config.save_every == 0 or step + 1 == steps):
            save_state(state_path, net, opt, sched, gen, step + 1)
    return net.eval()


def draw_batch(train: AnomalyData, config: FitConfig, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One training batch of `config.batch` random tile-days of `train`, under one of the 8 flips and quarter
    turns, the DEM removed from `config.dem_dropout` of them and GFS withheld from `config.gfs_dropout`: static
    inputs `(b, C, h, w)`, time and level features `(b, 24, .)`, the target (truth minus base) `(b, 24, h, w)` K."""
    idx = torch.randint(0, len(train), (config.batch,), generator=gen)
    k = int(torch.randint(0, 8, (1,), generator=gen))
    static, truth = dihedral(train.static[idx], k), dihedral(train.truth[idx], k)
    drop = torch.rand(config.batch, generator=gen) < config.dem_dropout
    static[drop, DEM_CHANNEL:] = 0.0  # the DEM anomaly and its flag
    levels, base = train.levels(idx, torch.rand(config.batch, generator=gen) >= config.gfs_dropout)
    return static, train.times[idx], levels, truth - base[..., None, None]


def load_state(path: Path | None, net: AnomalyNet, opt, sched, gen: torch.Generator) -> int:
    """Restore a fit's state saved by `save_state` at `path` into `net`, `opt`, `sched` and `gen` if it exists;
    return the steps it had done (0: none)."""
    if not (path and Path(path).exists()):
        return 0
    state = torch.load(path, weights_only=False)
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    gen.set_state(state["gen"])
    return int(state["step"])


def saved_step(path: Path) -> int:
    """The steps done by the fit whose state `save_state` wrote at `path` (0: none there)."""
    return int(torch.load(path, weights_only=False)["step"]) if Path(path).exists() else 0


def save_state(path: Path, net: AnomalyNet, opt, sched, gen: torch.Generator, step: int) -> None:
    """A fit's resumable state (weights, optimiser, schedule, random state, steps done), written atomically."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "gen": gen.get_state(), "step": step}, tmp)
    tmp.replace(path)


def random_relief(n: int, shape: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """`n` random reliefs `(n, h, w)` hm, zero mean each: white noise smoothed by a Gaussian of a sigma drawn from
    `RELIEF_SIGMA_CELLS`, scaled to an sd drawn from `RELIEF_SD_HM` (seeded by `gen`)."""
    noise = torch.randn(n, 1, *shape, generator=gen)
    sigma = torch.empty(n).uniform_(*RELIEF_SIGMA_CELLS, generator=gen)
    sd = torch.empty(n).uniform_(*RELIEF_SD_HM, generator=gen)
    maps = torch.cat([gaussian_smooth(noise[i : i + 1], float(sigma[i])) for i in range(n)])[:, 0]
    maps = maps - maps.mean((-2, -1), keepdim=True)
    return maps * (sd / maps.std((-2, -1)))[:, None, None]


def relief_departure(net: AnomalyNet, static: torch.Tensor, times: torch.Tensor, levels: torch.Tensor,
                     relief: torch.Tensor, field: torch.Tensor | None = None) -> torch.Tensor:
    """How the mean's within-tile anomaly answers relief added to the DEM, beyond the lapse rate: static inputs
    `(b, C, h, w)` (with a DEM), time and level features `(b, t, .)`, relief `(b, h, w)` hm, optionally the field
    `net(static, times, levels)` `(b, t, h, w)` K already computed -> `(b, t, h, w)` K, zero mean each map: the
    field with the relief minus the field without minus the lapse rate times the relief. Zero for a network that
    draws relief by the lapse rate."""
    bumped = static.clone()
    bumped[:, DEM_CHANNEL] += relief
    field = net(static, times, levels) if field is None else field
    d = net(bumped, times, levels) - field - LAPSE_RATE_K_PER_M * DEM_SCALE_M * relief[:, None]
    return d - d.mean((-2, -1), keepdim=True)


def fit_relief(net: AnomalyNet, train: AnomalyData, config: FitConfig, state_path: Path | None = None,
               progress: bool = True) -> AnomalyNet:
    """The relief stage after `fit`: `config.relief_steps` steps of `fit_loss` + `config.relief_weight` x the mean
    square of `relief_departure`, each hour's weighted by its `daylight`, for a `random_relief` on the batch's
    tiles that have a DEM, training only the
    hourly weights of the basis maps (`AnomalyNet.weights`), resuming from `state_path` when it exists.

    Where the data hold a height term beyond the lapse rate (a night's cold pools), the data term keeps it; where
    they hold none (the day), the prior draws relief by the lapse rate instead of whatever the shared basis maps
    carry over from the night. The U-Net, the level MLP and the error model are frozen, so the tile level (the
    regression's profile: the transformer's residual targets' base) is unchanged: each map of the weights' part
    has zero tile mean."""
    if config.relief_steps == 0:
        return net
    trained = list(net.weights.parameters())
    for p in net.parameters():
        p.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(config.seed + 1)

    def batch_loss() -> tuple[torch.Tensor, dict[str, str]]:
        static, times, levels, target = draw_batch(train, config, gen)
        relief = random_relief(len(static), tuple(static.shape[-2:]), gen)
        field = net(static, times, levels)
        has = static[:, DEM_CHANNEL + 1].amax((-2, -1)) > 0.5
        prior = ((daylight(times[has])[..., None, None]
                  * relief_departure(net, static[has], times[has], levels[has], relief[has], field[has]).pow(2)).mean()
                 if bool(has.any()) else field.new_zeros(()))
        loss = fit_loss(field, target, config.within_weight) + config.relief_weight * prior
        return loss, {"prior": f"{float(prior.detach()):.4f} K^2"}

    net = optimise(net, trained, config.relief_steps, config.relief_lr, config, gen, state_path, "relief prior",
                   progress, batch_loss)
    for p in net.parameters():
        p.requires_grad_(True)
    return net


@torch.no_grad()
def predict(net: AnomalyNet, data: AnomalyData, with_gfs: bool, batch: int = 8) -> torch.Tensor:
    """The field's mean `(n, 24, h, w)` K (base + level + anomaly mean) of every tile-day of `data`, given GFS
    (where the day has it) or not."""
    net.eval()
    out = []
    for i in range(0, len(data), batch):
        index = torch.arange(i, min(i + batch, len(data)))
        levels, base = data.levels(index, torch.full((len(index),), with_gfs))
        out.append(net(data.static[index], data.times[index], levels) + base[..., None, None])
    return torch.cat(out)


def holdout(data: AnomalyData, share: float, seed: int) -> tuple[AnomalyData, AnomalyData]:
    """`data` split by tile name into the mean's fit and the held-out tiles (`share` of the names, at least one,
    none when the split has a single tile: then the error model learns from the fit's own errors), seeded."""
    names = sorted(set(data.tile))
    k = min(max(1, round(share * len(names))), len(names) - 1)
    held = set(np.random.default_rng(seed).permutation(names)[:k].tolist())
    out = np.array([name in held for name in data.tile])
    if not out.any():
        return data, data
    return data.subset(np.flatnonzero(~out)), data.subset(np.flatnonzero(out))


def errors(net: AnomalyNet, data: AnomalyData, with_gfs: bool, batch: int = 8) -> tuple[torch.Tensor, ...]:
    """The mean's errors on every tile-day of `data` (given GFS where the day has it, or not) and the error
    model's inputs: tile-level error `(n, 24)` K, a cell's mean squared within-tile residual `(n, 24)` K^2 over
    the finite cells, the log sds the error model predicts `(n, 24, 2)`, and the residuals `(n, 24, h, w)` K."""
    level, cell, log_sd, residual = [], [], [], []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            index = torch.arange(i, min(i + batch, len(data)))
            levels, base = data.levels(index, torch.full((len(index),), with_gfs))
            field, sd = net.outputs(data.static[index], data.times[index], levels)
            r = data.truth[index] - field - base[..., None, None]
            ok = torch.isfinite(r)
            n = ok.sum((-2, -1)).clamp_min(1)
            mean = torch.where(ok, r, 0.0).sum((-2, -1)) / n
            inside = torch.where(ok, r - mean[..., None, None], 0.0)
            level.append(-mean)
            cell.append(inside.pow(2).sum((-2, -1)) / n)
            log_sd.append(sd)
            residual.append(torch.where(ok, r - mean[..., None, None], torch.nan))
    return torch.cat(level), torch.cat(cell), torch.cat(log_sd), torch.cat(residual)


def fit_error(net: AnomalyNet, held: AnomalyData, config: FitConfig) -> AnomalyNet:
    """Fit `net`'s error model (only it) on the mean's errors on the `held` tile-days, with GFS (where the day has
    it) and without:
    1. its centres, without and with GFS, are those hours' RMS errors (the pooled ones where a catalog has no
       hour of one kind);
    2. the Gaussian likelihood of the tile-level error under `level_sd` and of the cells' mean squared residual
       under `cell_sd`^2, full batch, Adam, `config.error_steps` steps (few: the held-out tiles are few; 150 kept
       the predicted over the actual RMS error within 0.9-1.1 on the held-out tiles and the fitted ones of the
       full world, 400 drifted to 1.1-1.3);
    3. calibration: each centre shifted so that the predicted variance's mean equals the mean squared error over
       the held-out hours of its kind. The likelihood fits the errors' ratio to the sd, not their mean square:
       uncalibrated, the full world's tile-level sd was 1.08x its held-out RMS error with GFS and 0.89x without,
       and the ensemble's spread-skill on the test split 1.20 and 0.94.
    The error model's inputs are the network's hourly inputs (`AnomalyNet.outputs`), computed once: the backbone
    is frozen."""
    inputs, level, cell = [], [], []
    with torch.no_grad():
        context = torch.cat([net.basis(held.static[i : i + 8])[1] for i in range(0, len(held), 8)])
        for with_gfs in (True, False):
            levels, _ = held.levels(torch.arange(len(held)), torch.full((len(held),), with_gfs))
            e_level, e_cell, _, _ = errors(net, held, with_gfs)
            inputs.append(net.hourly_inputs(held.times, context, levels).flatten(0, 1))
            level.append(e_level.flatten())
            cell.append(e_cell.flatten())
    x = torch.cat(inputs)
    e2 = torch.stack([torch.cat(level).pow(2), torch.cat(cell)], -1)  # (n, 2) K^2
    given = gfs_given(x)
    kinds = [~given, given]  # the rows of `error_centre`
    pooled = e2.mean(0)
    mean_square = torch.stack([e2[k].mean(0) if bool(k.any()) else pooled for k in kinds])  # (2, 2) K^2
    net.error_centre.copy_(mean_square.sqrt().clamp_min(1e-3).log())
    opt = torch.optim.Adam(net.error.parameters(), lr=1e-2)
    net.error.train()
    for _ in range(config.error_steps):
        log_sd = net.log_sd(x)
        loss = (2 * log_sd + e2 * torch.exp(-2 * log_sd)).mean(0).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        variance = (2 * net.log_sd(x)).exp()
        for row, k in enumerate(kinds):
            if bool(k.any()):
                net.error_centre[row] += 0.5 * (mean_square[row] / variance[k].mean(0)).log()
    return net.eval()


@torch.no_grad()
def relief_scores(net: AnomalyNet, data: AnomalyData, seed: int) -> dict[str, float]:
    """RMS `relief_departure` (K) on `data`'s tile-days with a DEM, given GFS, for one `random_relief` each
    (seeded), by local solar hour: by day (10-16 h) and by night (22-04 h). Near 0: relief the catalog never had
    is drawn by the lapse rate."""
    gen = torch.Generator().manual_seed(seed + 2)
    sq = []
    for i in range(0, len(data), 8):
        index = torch.arange(i, min(i + 8, len(data)))
        static = data.static[index]
        levels, _ = data.levels(index, torch.ones(len(index), dtype=torch.bool))
        relief = random_relief(len(index), tuple(static.shape[-2:]), gen)
        sq.append(relief_departure(net, static, data.times[index], levels, relief).pow(2).mean((-2, -1)))
    has = data.static[:, DEM_CHANNEL + 1].amax((-2, -1)) > 0.5  # (n,)
    if not bool(has.any()):
        return {}
    sq = torch.cat(sq)[has]  # (n', 24) K^2
    hour = torch.atan2(data.times[has][..., 0], data.times[has][..., 1]) * 12 / torch.pi % 24  # local solar h
    day, night = (hour - 13).abs() <= 3, (hour >= 22) | (hour <= 4)
    return {"val_relief_departure_by_day_k": float(sq[day].mean().sqrt()),
            "val_relief_departure_by_night_k": float(sq[night].mean().sqrt())}


def spread_ratios(net: AnomalyNet, data: AnomalyData, with_gfs: bool) -> dict[str, float]:
    """The error model's predicted sd over the mean's actual error on `data` (1: calibrated), as root mean
    squares over all tile-hours: of the tile level (`level_sd_over_rmse`) and inside the tile
    (`cell_sd_over_rmse`)."""
    level, cell, log_sd, _ = errors(net, data, with_gfs)
    sd2 = (2 * log_sd).exp().mean((0, 1))
    return {"level_sd_over_rmse": float((sd2[0] / level.pow(2).mean()).sqrt()),
            "cell_sd_over_rmse": float((sd2[1] / cell.mean()).sqrt())}


def level_rmse(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """RMSE (K) of the tile means `(..., h, w)` -> `(...)` over the finite truth cells."""
    ok = torch.isfinite(truth)
    mean = lambda x: torch.where(ok, x, 0.0).sum((-2, -1)) / ok.sum((-2, -1))  # noqa: E731
    return float(((mean(pred) - mean(truth)) ** 2).mean().sqrt())


def spatial_rmse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """RMSE (K) of within-tile anomalies `(..., h, w)`: each map minus its own mean, over finite targets."""
    ok = torch.isfinite(target)
    t = torch.where(ok, target, 0.0)
    p = pred - pred.mean((-2, -1), keepdim=True)
    return float(((p - t)[ok] ** 2).mean().sqrt())


def train_anomaly(catalog_path: Path, preset: str, fit_config: FitConfig, out: Path = Path("checkpoints"),
                  run_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> Path:
    """Fit the anomaly network and its noise model on `catalog_path`'s train and val splits with `fit_config`
    (`steps` overrides, the relief stage's in proportion; `train.PRESETS[preset].regression` for `tm-weather train
    --preset`), resuming from `run_dir/anomaly-last.pt` (the mean) and `run_dir/anomaly-relief.pt` (the relief
    stage); write `out/anomaly-<preset>.safetensors` and its card `.yaml`; return the checkpoint's path."""
    from tm_weather.catalog import load_catalog
    from tm_weather.tokenizers.registry import sha256

    if steps is not None and steps < MIN_STEPS:
        raise InputError("--steps", "value", f"at least {MIN_STEPS}", str(steps))
    config = fit_config if steps is None else fit_config.with_steps(steps)
    torch.set_num_threads(config.threads)
    run_dir = Path(run_dir or Path("runs") / f"anomaly-{preset}")
    run_dir.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog(catalog_path)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    train = anomaly_data(catalog, "train", config.model.cell_px, progress)
    val = anomaly_data(catalog, "val", config.model.cell_px, progress)
    cpu_data = time.process_time() - cpu0
    fit_part, held = holdout(train, config.holdout, config.seed)
    resumed_at = saved_step(run_dir / "anomaly-last.pt")
    net = fit(fit_part, config, run_dir / "anomaly-last.pt", progress)
    net = fit_error(fit_relief(net, fit_part, config, run_dir / "anomaly-relief.pt", progress), held, config)
    model = AnomalyModel(net, ResidualNoise.fit(errors(net, held, True)[3].flatten(0, 1).numpy(), held.cell_m))
    cpu = time.process_time() - cpu0
    mean, climate = predict(net, val, with_gfs=True), predict(net, val, with_gfs=False)
    anomaly = val.truth - val.truth.nanmean((-2, -1), keepdim=True)
    has = torch.isfinite(val.gfs).all(1)
    metrics = {"val_spatial_rmse_k": spatial_rmse(mean, anomaly),
               "val_flat_spatial_rmse_k": spatial_rmse(torch.zeros_like(anomaly), anomaly),
               "val_level_rmse_without_gfs_k": level_rmse(climate, val.truth),
               "val_level_rmse_climatology_k": level_rmse(torch.from_numpy(np.stack([p.clim for p in val.places]))[..., None, None]
                                                          .expand_as(val.truth), val.truth)}
    if bool(has.any()):  # a catalog without GFS has no with-GFS scores
        metrics |= {"val_level_rmse_with_gfs_k": level_rmse(mean[has], val.truth[has]),
                    "val_level_rmse_gfs_input_k": level_rmse(val.gfs[has][..., None, None].expand_as(val.truth[has]),
                                                             val.truth[has])}
    metrics |= relief_scores(net, val, config.seed)
    for split, data in (("held_out_train", held), ("val", val)):
        for with_gfs in (True, False):
            metrics |= {f"{split}_{k}_{'with' if with_gfs else 'without'}_gfs": v
                        for k, v in spread_ratios(net, data, with_gfs).items()}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"anomaly-{preset}.safetensors"
    model.save(path, {"preset": preset})
    card = {
        "model": "tm-weather regression: tile level and within-tile anomaly (U-Net + MLPs), an error model (the "
                 "sd of the level's and a cell's error per hour, fitted on held-out train tiles) + residual noise "
                 "(tm_weather/model/anomaly.py)",
        "inputs": "Sentinel-2 L2A (12 bands, NDVI), DEM, place and time; the GFS input (tiles.gfs_series) when given; "
                  "ERA5's 2016-2025 monthly-mean 2 m temperature (tm_weather.climatology) as the climate",
        "checkpoint": path.name, "sha256": sha256(path), "bytes": path.stat().st_size, "dtype": "float16",
        "parameters": sum(p.numel() for p in net.parameters()),
        "command": f"tm-weather train --preset {preset} --part anomaly --catalog {catalog_path}"
        + (f" --steps {steps}" if steps is not None else ""),
        "data": {"catalog": str(catalog_path), "train_tile_days": len(fit_part),
                 "held_out_train_tile_days (error model)": len(held), "val_tile_days": len(val),
                 "cell_m": train.cell_m},
        "fit": {**asdict(config), "cpu_seconds": round(cpu, 1), "cpu_seconds_reading_data": round(cpu_data, 1),
                "wall_seconds": round(time.perf_counter() - wall0, 1), "resumed_at_step": resumed_at},
        "noise": asdict(model.noise),
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": str(torch.__version__),
    }
    path.with_suffix(".yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return path
