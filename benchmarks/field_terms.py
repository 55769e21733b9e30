"""Which of the world's own terms a regression checkpoint's within-tile error lies along (issue 13): the error
inside the tile, split by the physics that made the truth.

The benchmark world (`--world`, seed 0) is built again into a temporary folder with each test tile's truth terms
kept (`world.build.build_world(..., terms_dir=...)`; the same seed gives the same world as the cached one, checked
below: the kept terms must add up to the truth's anomaly). For every test tile-day, every 3rd hour (as
`benchmarks/generation.py`), on the truth's 40 m cells:
- the error `r` of the regression's mean (given GFS) inside the tile, against the truth minus its tile mean;
- for each term `T` of `world.physics.WITHIN_TILE_TERMS`, minus its tile mean: its RMS; the share of the error's
  mean square that lies along it (the sum over tile-hours of `(r . T)^2 / (T . T)`, over that of `r . r`; terms
  are not orthogonal, so shares need not add to 1); and the slope `sum r . T / sum T . T` (1: the network misses
  the term entirely, 0: it draws it in full, negative: it overdraws it).

Grouped by the share of the catalog's LULC map under snow, as `benchmarks/field_limit.py`.

    .venv/bin/python benchmarks/field_terms.py [--world full] [--checkpoint CKPT]     # about 15 minutes
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from field import EVERY, anomaly, run_line
from field_limit import GROUPS, lulc_shares, snow_groups
from tm_weather.catalog import load_catalog
from tm_weather.model import CHECKPOINT_DIR
from tm_weather.model.anomaly import load_anomaly
from tm_weather.model.anomaly_train import anomaly_data, predict
from tm_weather.world import constants as C
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.cache import cached_world
from tm_weather.world.physics import WITHIN_TILE_TERMS
from tm_weather.world.presets import PRESETS

#: Largest RMS (K) by which a tile-hour's kept terms may differ from the truth file's anomaly (int16 at 0.01 K).
MATCH_K = 0.01


def tile_terms(path: Path, day: np.datetime64, hours: np.ndarray, ny: int, nx: int) -> dict[str, np.ndarray]:
    """A test tile's kept terms (`build.write_terms` npz `path`) at `hours` `(t,)` of UTC `day`, on the tile's
    cells (the truth grid without its margin), each minus its tile mean: `{term: (t, ny, nx)}` K."""
    z = np.load(path)
    index = np.searchsorted(z["hours"].astype("datetime64[h]"), np.datetime64(day, "h")) + hours
    m = C.TRUTH_MARGIN_CELLS
    out = {k: z[k][index][:, m : m + ny, m : m + nx] for k in WITHIN_TILE_TERMS}
    return {k: v - v.mean((-2, -1), keepdims=True) for k, v in out.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", default="full", choices=("demo", "full"), help="benchmark world preset (seed 0), "
                   "whose shipped regression checkpoint is scored by default")
    p.add_argument("--checkpoint", type=Path, help="regression checkpoint to score (default: the shipped "
                   "checkpoints/anomaly-<world>.safetensors)")
    args = p.parse_args()
    torch.set_num_threads(1)
    catalog = load_catalog(cached_world(args.world) / CATALOG)
    model = load_anomaly(args.checkpoint or CHECKPOINT_DIR / f"anomaly-{args.world}.safetensors")
    data = anomaly_data(catalog, "test", progress=True)
    target = anomaly(data).numpy()
    pred = predict(model.net, data, with_gfs=True).numpy()
    error = target - (pred - pred.mean((-2, -1), keepdims=True))
    group = snow_groups(lulc_shares(catalog, data.tile), len(data))
    hours = np.arange(0, 24, EVERY)
    ny, nx = target.shape[-2:]

    sums = np.zeros((len(GROUPS), len(WITHIN_TILE_TERMS), 3))  # T.T, (r.T)^2 / T.T, r.T
    error_ss = np.zeros(len(GROUPS))
    cells = np.zeros(len(GROUPS))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"building the {args.world} world again with its test tiles' terms (minutes) ...", flush=True)
        build_world(Path(tmp) / "world", PRESETS[args.world], 0, terms_dir=Path(tmp) / "terms")
        for i, name in enumerate(data.tile):
            terms = tile_terms(Path(tmp) / "terms" / f"{name}.npz", data.day[i], hours, ny, nx)
            mismatch = np.sqrt(np.nanmean((sum(terms.values()) - target[i, hours]) ** 2))
            if not mismatch < MATCH_K:
                raise SystemExit(f"field_terms: {name}: the rebuilt world's terms differ from the cached truth by "
                                 f"{mismatch:.3f} K RMS (the cache is of another build; rebuild it)")
            r = np.nan_to_num(error[i, hours])
            g = group[i]
            error_ss[g] += float((r**2).sum())
            cells[g] += r.size
            for j, term in enumerate(WITHIN_TILE_TERMS):
                tt = (terms[term] ** 2).sum((-2, -1))
                rt = (r * terms[term]).sum((-2, -1))
                sums[g, j] += [tt.sum(), (rt**2 / np.maximum(tt, 1e-12)).sum(), rt.sum()]

    print(f"{catalog.root / CATALOG}: {len(data)} test tile-days, every {EVERY} h; the error of the regression "
          f"{model.sha256[:12]} inside the tile along each term of the world")
    for g, (label, _, _) in enumerate(GROUPS):
        n = int((group == g).sum())
        if n == 0:
            continue
        print(f"\n{label}: {n} tile-days, error RMS {np.sqrt(error_ss[g] / cells[g]):.3f} K")
        print(f"{'term':<12}{'term RMS K':>12}{'share of the error MS':>24}{'slope':>10}")
        for j, term in enumerate(WITHIN_TILE_TERMS):
            tt, proj, rt = sums[g, j]
            print(f"{term:<12}{np.sqrt(tt / cells[g]):>12.3f}{proj / error_ss[g]:>24.2f}{rt / max(tt, 1e-12):>10.2f}")
    print(f"\n{run_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
