"""Causality experiment (issues 6, 13): which inputs the generator (regression network + shared transformer)
relies on, with GFS and without.

1. Ablations on the test split, each input removed or randomized for both parts of the generator (the
   transformer's tokens and the regression network's tile): the full conditioning (S-2 + NDVI, DEM, GFS series,
   place, time) against no S-2 (nor its NDVI; the regression sees the split's mean spectrum everywhere),
   coordinates drawn at random over the globe (tokens, and the regression's place: climate, local solar time),
   GFS series shuffled between samples, no time (tokens only: the regression cannot run without the hour), no
   DEM, no GFS (the climate path), and GFS + place + time alone (no S-2, no DEM). Every variant uses the same
   seed (common random numbers); the full conditioning with another seed shows how much scores move by sampling
   alone. The same ablations without GFS show what the climate path relies on. TerraMind's finding for its
   S2 -> T2M model: it relies mostly on the S-2 image, and randomized coordinates barely change accuracy.
2. Occlusion attribution over the S-2 image: for a few test samples, each 32 x 32 px block (7 x 7 blocks) of
   the S-2 image is replaced by the tile's mean spectrum: the change of the regression's mean field at the valid
   hour (RMS over the tile, K), and, S-2 and NDVI re-tokenized, the transformer's loss on the sample's true
   residual tokens (nats per token).

    .venv/bin/python experiments/causality.py [--world full] [--every 3] [--members 8] [--occlusion-samples 4]

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
T2M = ("t2m_residual",)  # the generated T2M tokens the occlusion loss is measured on


def ablations(s, truth: np.ndarray) -> tuple[list[list[str]], dict]:
    """Score every variant, with GFS and without -> (table rows, numbers)."""
    gen = torch.Generator().manual_seed(1)
    n = len(s.test)
    lat, lon = torch.empty(n).uniform_(-60, 70, generator=gen), torch.empty(n).uniform_(-180, 180, generator=gen)
    random_coords = coord_tokens.encode(lat, lon)
    perm = torch.randperm(n, generator=gen)
    spectrum = {}

    def flat_s2(tile, i):
        """The tile with every pixel the split's mean spectrum (the first tile's mean stands in for it)."""
        spectrum.setdefault("mean", tile.reflectance.mean(axis=(1, 2), keepdims=True))
        return dataclasses.replace(tile, reflectance=np.broadcast_to(spectrum["mean"], tile.reflectance.shape).copy())

    moved = lambda tile, i: dataclasses.replace(tile, lat=float(lat[i]), lon=float(lon[i]))  # noqa: E731
    no_dem = lambda tile, i: dataclasses.replace(tile, dem=None)  # noqa: E731
    numbers, rows = {}, []
    for gfs_label, standard in (("with GFS", STANDARD), ("without GFS", tuple(k for k in STANDARD if k != "gfs"))):
        no = lambda *names: tuple(k for k in standard if k not in names)  # noqa: E731
        variants = {
            "all inputs": dict(conditions_of=standard),
            "all inputs, another seed (sampling noise)": dict(conditions_of=standard, config=dataclasses.replace(s.config, seed=1)),
            "no S-2 (nor NDVI)": dict(conditions_of=no("s2l2a", "ndvi"), edit=flat_s2),
            "randomized coordinates": dict(conditions_of=standard, tokens={"coords": random_coords}, edit=moved),
            "no time (tokens)": dict(conditions_of=no("time")),
            "no DEM": dict(conditions_of=no("dem"), edit=no_dem),
        }
        if gfs_label == "with GFS":
            variants |= {"shuffled GFS series": dict(conditions_of=standard, tokens={"gfs": s.test.tokens["gfs"][perm]},
                                                     gfs=s.test.gfs[perm]),
                         "GFS + place + time only": dict(conditions_of=("gfs", "coords", "time"),
                                                         edit=lambda tile, i: no_dem(flat_s2(tile, i), i))}
        for label, kwargs in variants.items():
            began = time.perf_counter()
            print(f"{gfs_label}: {label} ...")
            key = f"{gfs_label}: {label}"
            numbers[key] = score(ensembles(s.generator, s.catalog, s.test, s.rows, **{"config": s.config, **kwargs})[0], truth)
            numbers[key]["seconds"] = round(time.perf_counter() - began, 1)
        ref = numbers[f"{gfs_label}: all inputs"]["rmse"]
        for label in variants:
            r = numbers[f"{gfs_label}: {label}"]
            rows.append([gfs_label, label, f"{r['rmse']:.3f}", f"{r['rmse'] - ref:+.3f} ({100 * (r['rmse'] / ref - 1):+.0f}%)",
                         f"{r['crps']:.3f}", f"{r['bias']:+.3f}", f"{r['spread_skill']:.2f}"])
    return rows, numbers


def occlusion(s, sample: int) -> tuple[np.ndarray, np.ndarray, object]:
    """Per occluded S-2 block `(7, 7)`: the RMS change (K) of the regression's mean field at the valid hour, and the
    increase of the transformer's loss on the sample's true residual tokens (nats per token, teacher forcing,
    nothing revealed); and the tile (for the figure). Both are deterministic: a sampled ensemble would hide small
    changes behind its sampling noise."""
    name = s.test.tiles[int(s.test.tile[sample])]
    entry = next(t for t in s.catalog.tiles if t.name == name)
    tile = read_tile(s.catalog.path(entry.s2), s.catalog.path(entry.dem), s.catalog.path(entry.lulc),
                     boa_add_offset=entry.boa_add_offset, name=name)
    cond = {k: s.test.tokens[k][sample][None] for k in STANDARD}
    targets = as_tokens({k: s.test.tokens[k][sample][None] for k in T2M})
    valid = np.array([np.datetime64(int(s.test.valid[sample]), "h")])
    gfs = s.test.gfs[sample, int(s.test.hour[sample])][None].numpy(), s.test.lead[sample, int(s.test.hour[sample])][None].numpy()
    model, tokenizers, regression = s.generator.model, s.generator.tokenizers, s.generator.regression

    @torch.no_grad()
    def loss(conditions) -> float:
        return float(sum(model.losses(as_tokens(conditions), targets, torch.zeros_like(targets.pad)).values()))

    def mean(refl) -> torch.Tensor:
        return regression.mean(refl, tile.dem, valid, tile.lat, tile.lon, *gfs)[0]

    base_loss, base_mean = loss(cond), mean(tile.reflectance)
    spectrum = tile.reflectance.mean(axis=(1, 2), keepdims=True)
    blocks = tile.reflectance.shape[1] // BLOCK
    kelvin, nats = np.zeros((blocks, blocks)), np.zeros((blocks, blocks))
    for by in range(blocks):
        for bx in range(blocks):
            refl = tile.reflectance.copy()
            refl[:, by * BLOCK:(by + 1) * BLOCK, bx * BLOCK:(bx + 1) * BLOCK] = spectrum
            kelvin[by, bx] = float((mean(refl) - base_mean).pow(2).mean().sqrt())
            occluded = tile_tokens(dataclasses.replace(tile, reflectance=refl), tokenizers)
            nats[by, bx] = loss({**cond, "s2l2a": occluded["s2l2a"][None], "ndvi": occluded["ndvi"][None]}) - base_loss
    return kelvin, nats, tile


def figure(s, picks: list[int], maps: list[tuple[np.ndarray, np.ndarray]], tiles: list, path) -> None:
    """One row per sample: S-2 RGB | land cover | DEM | regression change map (K) | transformer loss map (nats)."""
    fig, axes = plt.subplots(len(picks), 5, figsize=(16, 3.2 * len(picks)), squeeze=False)
    top_k = max(float(k.max()) for k, _ in maps) or 1.0
    top_nats = max(float(np.abs(n).max()) for _, n in maps) or 1.0
    for row, (i, (kelvin, nats), tile) in enumerate(zip(picks, maps, tiles)):
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
        im = axes[row, 3].imshow(np.kron(kelvin, np.ones((BLOCK, BLOCK))), cmap="magma", vmin=0, vmax=top_k)
        axes[row, 3].set_title(f"regression mean change, {when}Z", fontsize=9)
        fig.colorbar(im, ax=axes[row, 3], label="RMS change, K")
        im = axes[row, 4].imshow(np.kron(nats, np.ones((BLOCK, BLOCK))), cmap="RdBu_r", vmin=-top_nats, vmax=top_nats)
        axes[row, 4].set_title("transformer loss change", fontsize=9)
        fig.colorbar(im, ax=axes[row, 4], label="nats per token")
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
        kelvin, nats, tile = occlusion(s, i)
        maps.append((kelvin, nats))
        tiles.append(tile)
    figure(s, picks, maps, tiles, args.out / "causality_occlusion.png")
    occl = [[s.test.tiles[int(s.test.tile[i])], str(np.datetime64(int(s.test.valid[i]), "h")) + "Z",
             f"{k.max():.3f}", f"{k.mean():.3f}", f"{n.max():+.4f}", f"{np.abs(n).mean():.4f}"]
            for i, (k, n) in zip(picks, maps)]
    numbers["occlusion"] = [{"sample": int(i), "max_k": float(k.max()), "mean_k": float(k.mean()),
                             "max_nats": float(n.max()), "mean_abs_nats": float(np.abs(n).mean()),
                             "map_k": k.round(4).tolist(), "map_nats": n.round(5).tolist()}
                            for i, (k, n) in zip(picks, maps)]

    md = "\n\n".join([
        "# Causality: which inputs the generator relies on",
        provenance(args, started),
        "## Ablations (ensemble-mean RMSE on the truth's 16-px blocks)",
        table(["GFS", "inputs", "RMSE K", "change vs all inputs", "CRPS K", "bias K", "spread-skill"], rows),
        "## Occlusion attribution over the S-2 image",
        "![occlusion maps](causality_occlusion.png)",
        table(["tile", "valid time", "regression: largest change K", "mean change K", "transformer: largest loss "
               "increase", "mean abs change"], occl),
    ])
    write(args.out, "causality", md, numbers)


if __name__ == "__main__":
    main()
