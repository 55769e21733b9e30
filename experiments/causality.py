"""Causality experiment (issue 6): which inputs the shared transformer relies on.

1. Ablations on the test split: the full conditioning (S-2 + NDVI, DEM, GFS series, place, time) against the
   same with one input removed or randomized: no S-2 (nor its NDVI), coordinates drawn at random over the
   globe, GFS series shuffled between samples (tokens and the series the residual is added to), no time, no
   DEM, no GFS (the absolute-profile path), and GFS + place + time alone. Every variant uses the same seed, so
   differences come from the inputs (common random numbers); the full conditioning with another seed shows how
   much the scores move by sampling alone. TerraMind's finding for its S2 -> T2M model: it
   relies mostly on the S-2 image, and randomized coordinates barely change accuracy.
2. Occlusion attribution over the S-2 image: for a few test samples, each 32 x 32 px block (7 x 7 blocks) of
   the S-2 image is replaced by the tile's mean spectrum, S-2 and NDVI re-tokenized, and the model's loss on
   the sample's true T2M tokens (GFS residual + field) computed again; the map is the increase (nats per
   token) per occluded block: where the image tells the model something true about the temperature.

    .venv/bin/python experiments/causality.py [--world demo] [--every 3] [--members 8] [--occlusion-samples 4]

Writes `experiments/results/causality.md`, `.json` and `causality_occlusion.png`.
"""

from __future__ import annotations

import dataclasses
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import parser, provenance, start, table, write  # noqa: E402

from tm_weather.model.data import tile_tokens  # noqa: E402
from tm_weather.tiles import read_tile  # noqa: E402
from tm_weather.model.generate import as_tokens  # noqa: E402
from tm_weather.model.skill import STANDARD, ensembles, score  # noqa: E402
from tm_weather.tokenizers import coords as coord_tokens  # noqa: E402

BLOCK = 32  # occlusion block side, px (7 x 7 blocks on a 224 px tile)
RGB = (3, 2, 1)  # B4, B3, B2 among the 12 L2A bands
T2M = ("t2m_residual", "t2m_field")  # the generated T2M tokens the occlusion loss is measured on


def ablations(s, truth: np.ndarray) -> tuple[list[list[str]], dict]:
    """Score every variant -> (table rows, numbers)."""
    gen = torch.Generator().manual_seed(1)
    n = len(s.test)
    random_coords = coord_tokens.encode(torch.empty(n).uniform_(-60, 70, generator=gen),
                                        torch.empty(n).uniform_(-180, 180, generator=gen))
    perm = torch.randperm(n, generator=gen)
    no = lambda *names: tuple(k for k in STANDARD if k not in names)  # noqa: E731
    variants = {
        "all inputs": dict(conditions_of=STANDARD),
        "all inputs, another seed (sampling noise)": dict(conditions_of=STANDARD, config=dataclasses.replace(s.config, seed=1)),
        "no S-2 (nor NDVI)": dict(conditions_of=no("s2l2a", "ndvi")),
        "randomized coordinates": dict(conditions_of=STANDARD, tokens={"coords": random_coords}),
        "shuffled GFS series": dict(conditions_of=STANDARD, tokens={"gfs": s.test.tokens["gfs"][perm]}, gfs=s.test.gfs[perm]),
        "no time": dict(conditions_of=no("time")),
        "no DEM": dict(conditions_of=no("dem")),
        "no GFS": dict(conditions_of=no("gfs")),
        "GFS + place + time only": dict(conditions_of=("gfs", "coords", "time")),
    }
    numbers, rows = {}, []
    for label, kwargs in variants.items():
        began = time.perf_counter()
        print(f"{label} ...")
        numbers[label] = score(ensembles(s.model, s.tokenizers, s.test, s.rows, **{"config": s.config, **kwargs}), truth)
        numbers[label]["seconds"] = round(time.perf_counter() - began, 1)
    ref = numbers["all inputs"]["rmse"]
    for label, r in numbers.items():
        rows.append([label, f"{r['rmse']:.3f}", f"{r['rmse'] - ref:+.3f} ({100 * (r['rmse'] / ref - 1):+.0f}%)",
                     f"{r['crps']:.3f}", f"{r['bias']:+.3f}", f"{r['spread_skill']:.2f}"])
    return rows, numbers


def occlusion(s, sample: int) -> tuple[np.ndarray, object]:
    """Increase of the model's loss on the sample's true T2M tokens (residual + field, nats per token, teacher
    forcing, nothing revealed) per occluded S-2 block `(7, 7)`, and the tile (for the figure). The loss is
    deterministic: a sampled ensemble would hide small changes behind its sampling noise."""
    name = s.test.tiles[int(s.test.tile[sample])]
    entry = next(t for t in s.catalog.tiles if t.name == name)
    tile = read_tile(s.catalog.path(entry.s2), s.catalog.path(entry.dem), s.catalog.path(entry.lulc),
                     boa_add_offset=entry.boa_add_offset, name=name)
    cond = {k: s.test.tokens[k][sample][None] for k in STANDARD}
    targets = as_tokens({k: s.test.tokens[k][sample][None] for k in T2M})

    @torch.no_grad()
    def loss(conditions) -> float:
        return float(sum(s.model.losses(as_tokens(conditions), targets, torch.zeros_like(targets.pad)).values()))

    base = loss(cond)
    spectrum = tile.reflectance.mean(axis=(1, 2), keepdims=True)
    blocks = tile.reflectance.shape[1] // BLOCK
    change = np.zeros((blocks, blocks))
    for by in range(blocks):
        for bx in range(blocks):
            refl = tile.reflectance.copy()
            refl[:, by * BLOCK:(by + 1) * BLOCK, bx * BLOCK:(bx + 1) * BLOCK] = spectrum
            occluded = tile_tokens(dataclasses.replace(tile, reflectance=refl), s.tokenizers)
            change[by, bx] = loss({**cond, "s2l2a": occluded["s2l2a"][None], "ndvi": occluded["ndvi"][None]}) - base
    return change, tile


def figure(s, picks: list[int], maps: list[np.ndarray], tiles: list, path) -> None:
    """One row per sample: S-2 RGB | land cover | DEM | occlusion change map."""
    fig, axes = plt.subplots(len(picks), 4, figsize=(13, 3.2 * len(picks)), squeeze=False)
    limit = max(float(np.abs(m).max()) for m in maps) or 1.0
    for row, (i, change, tile) in enumerate(zip(picks, maps, tiles)):
        rgb = np.clip(tile.reflectance[list(RGB)].transpose(1, 2, 0) / 0.3, 0, 1)
        when = str(np.datetime64(int(s.test.valid[i]), "h"))
        panels = [
            (rgb, None, f"{tile.name} S-2 RGB"),
            (tile.lulc, "tab10", "land cover (classes 1-9)"),
            (tile.dem, "terrain", f"DEM {tile.dem.min():.0f}..{tile.dem.max():.0f} m"),
        ]
        for ax, (img, cmap, title) in zip(axes[row], panels):
            ax.imshow(img, cmap=cmap, interpolation="nearest")
            ax.set_title(title, fontsize=9)
        im = axes[row, 3].imshow(np.kron(change, np.ones((BLOCK, BLOCK))), cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[row, 3].set_title(f"occluded, {when}Z", fontsize=9)
        fig.colorbar(im, ax=axes[row, 3], label="loss increase, nats per token")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Occlusion attribution: each 32 px block of the S-2 image replaced by the tile's mean spectrum")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--occlusion-samples", type=int, default=4, help="test samples with an occlusion map (default 4)")
    args, started, s, truth = start(p)
    rows, numbers = ablations(s, truth)

    tiles_seen, picks = set(), []
    for i in s.rows:  # spread the occlusion samples over tiles and hours
        key = (int(s.test.tile[i]), int(s.test.hour[i]) // 12)
        if key not in tiles_seen and len(picks) < args.occlusion_samples:
            tiles_seen.add(key)
            picks.append(i)
    maps, tiles = [], []
    for i in picks:
        print(f"occlusion: sample {i}")
        change, tile = occlusion(s, i)
        maps.append(change)
        tiles.append(tile)
    figure(s, picks, maps, tiles, args.out / "causality_occlusion.png")
    occl = [[s.test.tiles[int(s.test.tile[i])], str(np.datetime64(int(s.test.valid[i]), "h")) + "Z",
             f"{m.max():+.4f}", f"{m.min():+.4f}", f"{np.abs(m).mean():.4f}"] for i, m in zip(picks, maps)]
    numbers["occlusion"] = [{"sample": int(i), "max_nats": float(m.max()), "min_nats": float(m.min()),
                             "mean_abs_nats": float(np.abs(m).mean()), "map_nats": m.round(5).tolist()}
                            for i, m in zip(picks, maps)]

    md = "\n\n".join([
        "# Causality: which inputs the shared transformer relies on",
        provenance(args, started),
        "## Ablations (ensemble-mean RMSE on the truth's 16-px blocks)",
        table(["inputs", "RMSE K", "change vs all inputs", "CRPS K", "bias K", "spread-skill"], rows),
        "## Occlusion attribution over the S-2 image",
        "![occlusion maps](causality_occlusion.png)",
        table(["tile", "valid time", "largest loss increase", "largest loss decrease", "mean abs change"], occl),
    ])
    write(args.out, "causality", md, numbers)


if __name__ == "__main__":
    main()
