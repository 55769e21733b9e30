"""What the inputs allow inside the tile (issue 13): a regression checkpoint's within-tile error on a split
(default test), grouped by how much of the tile the Sentinel-2 image shows under snow, beside a bound on any model that is linear
in maps made from the same inputs.

For every tile-day of the split, every 3rd hour (as `benchmarks/generation.py`), on the truth's 40 m cells:
- the truth's within-tile sd (the error of a flat field) and the lapse rate over the DEM;
- the regression's mean (`--checkpoint`, default the shipped `checkpoints/anomaly-<world>.safetensors`), given GFS;
- the best fit, separately for each tile and hour, of the truth's anomaly by a linear combination of input maps:
  the network's static inputs (S-2 bands, NDVI, DEM) as they are and its `anomaly.fixed_maps` (the inputs
  smoothed over 80 m, the DEM's topographic position over 400 m and its positive part: hollows).
  The coefficients are fitted to the truth of that very tile-hour, so no model built on these maps can do better
  unless it is non-linear in them; the same fit with the catalog's LULC class shares added shows what a perfect
  land-cover map would add.

With `--shared`, the same maps with coefficients shared across tiles, one set per local solar hour and snow group,
fitted by least squares on the train split: the linear model a network could learn from the inputs' maps alone.
Between it and the per-tile-hour bound lies what the coefficients vary by from tile to tile.

The tiles are grouped by the share of their LULC map (the catalog's, TerraMind class 7) under snow or ice: where
S-2 sees snow, it does not see the land cover under it.

    .venv/bin/python benchmarks/field_limit.py [--world full] [--catalog CATALOG] [--split test] [--shared]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from field import EVERY, anomaly, lapse, run_line
from tm_weather.catalog import load_catalog
from tm_weather.model import CHECKPOINT_DIR
from tm_weather.model.anomaly import CELL_PX, SMOOTH_CELLS, fixed_maps, load_anomaly
from tm_weather.model.anomaly_train import anomaly_data, predict
from tm_weather.tiles import read_tile

#: TerraMind LULC classes (1..9): 7 is snow and ice.
SNOW_CLASS = 7
LULC_CLASSES = 9
#: Snow-share groups: (label, lower bound inclusive, upper bound exclusive).
GROUPS = (("no snow in S-2 (< 1 %)", 0.0, 0.01), ("partly under snow", 0.01, 0.99), ("all under snow (>= 99 %)", 0.99, 2.0))


def smooth(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Maps `(n, c, h, w)` smoothed over the last two axes by a Gaussian of `sigma` cells."""
    return gaussian_filter(maps, (0, 0, sigma, sigma), mode="nearest")


def input_maps(static: torch.Tensor) -> np.ndarray:
    """The network's static inputs `(n, C, h, w)` -> candidate maps `(n, C + FIXED_MAPS, h, w)`: as they are and
    the network's `fixed_maps` of them."""
    return torch.cat([static, fixed_maps(static)], 1).numpy()


def lulc_shares(catalog, names: list[str]) -> np.ndarray | None:
    """Each tile's LULC class shares `(n, 9, h, w)` on the network's cells, or None when a tile has no LULC."""
    entries = {t.name: t for t in catalog.tiles}
    shares = {}
    for name in dict.fromkeys(names):
        entry = entries[name]
        if entry.lulc is None:
            return None
        tile = read_tile(catalog.path(entry.s2), None, catalog.path(entry.lulc), None, None, name)
        onehot = F.one_hot(torch.from_numpy(tile.lulc), LULC_CLASSES).permute(2, 0, 1).float()
        shares[name] = F.avg_pool2d(onehot[None], CELL_PX)[0].numpy()
    return np.stack([shares[n] for n in names])


def linear_bound(maps: np.ndarray, target: torch.Tensor, hours: np.ndarray) -> np.ndarray:
    """Per tile-day, the mean squared residual `(n,)` K^2 of the least-squares fit of each scored hour's truth
    anomaly `target` `(n, 24, h, w)` by the tile's `maps` `(n, F, h, w)` (each minus its tile mean)."""
    out = np.zeros(len(maps))
    for i in range(len(maps)):
        a = maps[i].reshape(len(maps[i]), -1).T
        a = a - a.mean(0)
        y = target[i, hours].reshape(len(hours), -1).T.numpy()
        ok = np.isfinite(y).all(1)
        coef, *_ = np.linalg.lstsq(a[ok], y[ok], rcond=None)
        out[i] = float(np.mean((y[ok] - a[ok] @ coef) ** 2))
    return out


def local_hours(data) -> np.ndarray:
    """Each tile-day's local solar hours `(n, 24)` int 0..23, from the network's time features (`time_features`:
    the first harmonic of the local hour is columns 0 and 1)."""
    angle = np.arctan2(data.times[..., 0].numpy(), data.times[..., 1].numpy())
    return np.round(angle / (2 * np.pi) * 24).astype(int) % 24


def snow_groups(shares: np.ndarray | None, n: int) -> np.ndarray:
    """Each tile-day's index `(n,)` into `GROUPS` by its LULC map's snow share (all 0 without LULC)."""
    if shares is None:
        return np.zeros(n, int)
    snow = shares[:, SNOW_CLASS - 1].mean((1, 2))
    return np.digitize(snow, [lo for _, lo, _ in GROUPS[1:]])


def demeaned(maps: np.ndarray) -> np.ndarray:
    """Maps `(n, F, h, w)` -> `(n, F, h * w)`, each minus its tile mean."""
    a = maps.reshape(*maps.shape[:2], -1)
    return a - a.mean(2, keepdims=True)


def shared_fit(maps: np.ndarray, target: torch.Tensor, keys: np.ndarray) -> dict[int, np.ndarray]:
    """Least-squares coefficients `(F,)` of the truth anomaly `target` `(n, 24, h, w)` on the tiles' `maps` `(n, F,
    h, w)`, one set per key of `keys` `(n, 24)` int, over every hour of every tile-day whose truth is whole."""
    a, y = demeaned(maps), target.reshape(*target.shape[:2], -1).numpy()
    ata: dict[int, np.ndarray] = {}
    aty: dict[int, np.ndarray] = {}
    for i in range(len(a)):
        gram = a[i] @ a[i].T
        for h in np.flatnonzero(np.isfinite(y[i]).all(1)):
            k = int(keys[i, h])
            ata[k] = ata.get(k, 0) + gram
            aty[k] = aty.get(k, 0) + a[i] @ y[i, h]
    return {k: np.linalg.lstsq(ata[k], aty[k], rcond=None)[0] for k in ata}


def shared_mse(coef: dict[int, np.ndarray], maps: np.ndarray, target: torch.Tensor, keys: np.ndarray,
               hours: np.ndarray) -> np.ndarray:
    """Mean squared within-tile error `(n,)` K^2 at the scored `hours` of the shared coefficients `coef`
    (`shared_fit`; a key never fitted predicts a flat field) on `maps` against `target` `(n, 24, h, w)`."""
    a, y = demeaned(maps), target.reshape(*target.shape[:2], -1).numpy()
    out = np.zeros(len(a))
    for i in range(len(a)):
        err = [y[i, h] - (coef[keys[i, h]] @ a[i] if keys[i, h] in coef else 0.0) for h in hours]
        out[i] = float(np.nanmean(np.square(err)))
    return out


def per_tile_mse(pred: torch.Tensor, target: torch.Tensor, hours: np.ndarray) -> np.ndarray:
    """Mean squared within-tile error `(n,)` K^2 of `pred` against `target` `(n, 24, h, w)` at the scored hours."""
    p = pred[:, hours] - pred[:, hours].mean((-2, -1), keepdim=True)
    return ((p - target[:, hours]) ** 2).nanmean((1, 2, 3)).numpy()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", default="full", choices=("demo", "full"), help="benchmark world preset (seed 0), "
                   "whose shipped regression checkpoint is scored by default")
    p.add_argument("--catalog", type=Path, help="catalog with a test split (default: the --world world)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default "
                   "test; train against test tells a network that cannot fit from one that does not generalise)")
    p.add_argument("--checkpoint", type=Path, help="regression checkpoint to score (default: the shipped "
                   "checkpoints/anomaly-<world>.safetensors)")
    p.add_argument("--shared", action="store_true", help="also the maps with coefficients shared across tiles "
                   "(per local hour and snow group), fitted on the train split (reads it: minutes more)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.catalog is None:
        from tm_weather.world.build import CATALOG
        from tm_weather.world.cache import cached_world

        args.catalog = cached_world(args.world) / CATALOG
    catalog = load_catalog(args.catalog)
    data = anomaly_data(catalog, args.split, progress=True)
    target = anomaly(data)
    hours = np.arange(0, 24, EVERY)
    maps = input_maps(data.static)
    shares = lulc_shares(catalog, data.tile)
    model = load_anomaly(args.checkpoint or CHECKPOINT_DIR / f"anomaly-{args.world}.safetensors")
    columns = {
        "flat field": per_tile_mse(torch.zeros_like(target), target, hours),
        "lapse over the DEM": per_tile_mse(lapse(data), target, hours),
        "regression": per_tile_mse(predict(model.net, data, with_gfs=True), target, hours),
        "linear bound, inputs": linear_bound(maps, target, hours),
    }
    if shares is not None:
        with_lulc = np.concatenate([maps, shares, smooth(shares, SMOOTH_CELLS)], 1)
        columns["linear bound, + true LULC"] = linear_bound(with_lulc, target, hours)
    group = snow_groups(shares, len(data))
    if args.shared:
        train = anomaly_data(catalog, "train", progress=True)
        train_keys = local_hours(train) * len(GROUPS) + snow_groups(lulc_shares(catalog, train.tile), len(train))[:, None]
        coef = shared_fit(input_maps(train.static), anomaly(train), train_keys)
        keys = local_hours(data) * len(GROUPS) + group[:, None]
        columns["linear, shared (train fit)"] = shared_mse(coef, maps, target, keys, hours)
    groups = [(label, group == g) for g, (label, _, _) in enumerate(GROUPS)] if shares is not None else []
    groups.append((f"all {args.split} tile-days", np.ones(len(data), bool)))

    print(f"{args.catalog}: {len(data)} {args.split} tile-days, every {EVERY} h; spatial RMSE (K) of the within-tile "
          f"anomaly; regression: {model.sha256[:12]}")
    print(f"{'tiles':<28}{'n':>5}{'share of SSE':>14}" + "".join(f"{c:>28}" for c in columns))
    model_mse = columns["regression"]
    for label, m in groups:
        cells = "".join(f"{np.sqrt(v[m].mean()):>28.3f}" for v in columns.values())
        print(f"{label:<28}{int(m.sum()):>5}{model_mse[m].sum() / model_mse.sum():>14.2f}{cells}")
    lapse_all = np.sqrt(columns["lapse over the DEM"].mean())
    bound = np.sqrt(columns["linear bound, inputs"].mean())
    print(f"target 0.5x lapse: {0.5 * lapse_all:.3f} K; the linear bound on the inputs: {bound:.3f} K "
          f"({bound / lapse_all:.2f}x lapse); the regression: {np.sqrt(model_mse.mean()) / lapse_all:.2f}x")
    print(f"\n{run_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
