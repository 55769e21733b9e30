"""`tm-weather train --backbone terramind-tiny|base`: the weather modalities trained on TerraMind's encoder.

    catalog split -> `model.data.catalog_samples` (the weather tokens: t2m_field, t2m_hourly, gfs,
      coords, time; cached in the run folder like `tm_weather.train`)
      + each tile's TerraMind image tokens (`TerraMindTokenizers.tile_tokens`, once per tile)
    -> `WeatherTerraMind` (TerraMind's part from `--terramind-weights` or random, frozen)
    -> a short AdamW loop on the new parameters: every step, a random batch; each target's tokens masked at a
       random share (at least one per sample), GFS (and so the residual target) dropped in `gfs_dropout` of the
       steps so the model also generates without it
    -> `<out>/transformer-<backbone>.safetensors` and its model card `.yaml`: what was loaded, what is new, what
       was trained.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from tm_weather.errors import InputError
from tm_weather.outputs import write_text
from tm_weather.terramind.model import BACKBONES, INPUTS, TARGETS, TerraMindConfig, WeatherTerraMind, load_terramind, save
from tm_weather.terramind.tokenizers import IMAGES, TerraMindTokenizers
from tm_weather.tokenizers.registry import sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TerraMindTrainConfig:
    """The loop: `steps` of `batch` samples at learning rate `lr`; GFS dropped in `gfs_dropout` of the steps."""

    steps: int = 300
    batch: int = 8
    lr: float = 1e-3
    gfs_dropout: float = 0.5
    seed: int = 0
    threads: int = 1  # torch CPU threads: on a shared CPU two threads spin against each other


@dataclass
class TileImages:
    """TerraMind image tokens per tile of a split: `tokens[name]` `(n_tiles, 196)` int64, `present[name]`
    `(n_tiles,)` bool (a tile without a DEM or LULC has none)."""

    tokens: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]


def tile_images(catalog, split: str, tokenizers: TerraMindTokenizers, progress=print) -> TileImages:
    """Every tile of `split` (in `catalog_samples`' order, so `Samples.tile` indexes them) through TerraMind's tokenizers."""
    from tm_weather.tiles import read_tile, split_window

    tiles, _, _ = split_window(catalog, split)
    rows = []
    for number, entry in enumerate(tiles):
        tile = read_tile(catalog.path(entry.s2), entry.dem and catalog.path(entry.dem), entry.lulc and catalog.path(entry.lulc),
                         entry.time and np.datetime64(entry.time.replace(tzinfo=None), "ns"), entry.boa_add_offset, entry.name)
        start = time.perf_counter()
        rows.append(tokenizers.tile_tokens(tile))
        progress(f"{split}: TerraMind tokens of {entry.name} ({number + 1}/{len(tiles)}) in {time.perf_counter() - start:.1f} s")
    names = list(tokenizers.models)
    blank = torch.zeros(196, dtype=torch.int64)
    return TileImages({n: torch.stack([r.get(n, blank) for r in rows]) for n in names},
                      {n: torch.tensor([n in r for r in rows]) for n in names})


def random_batch(samples, images: TileImages, config: TerraMindTrainConfig, gen: torch.Generator):
    """A training batch -> (images `{name: (b, 196)}`, inputs `{name: (b, 2)}`, targets `{name: (b, length)}`,
    reveal `{name: (b, length)}` bool). Image modalities and GFS are used only when every sample has them."""
    index = torch.randint(len(samples), (config.batch,), generator=gen)
    tile = samples.tile[index]
    batch_images = {n: t[tile] for n, t in images.tokens.items() if bool(images.present[n][tile].all())}
    with_gfs = bool(samples.present["gfs"][index].all()) and float(torch.rand(1, generator=gen)) >= config.gfs_dropout
    inputs = {n: samples.tokens[n][index] for n in INPUTS if n != "gfs" or with_gfs}
    targets = {n: samples.tokens[n][index] for n in TARGETS}
    reveal = {}
    for name, tokens in targets.items():
        keep = torch.rand(tokens.shape[0], 1, generator=gen)  # share revealed, per sample
        r = torch.rand(tokens.shape, generator=gen) < keep
        r[torch.arange(len(r)), torch.randint(tokens.shape[1], (len(r),), generator=gen)] = False  # one masked at least
        reveal[name] = r
    return batch_images, inputs, targets, reveal


def train_terramind(backbone: str, catalog: Path, out: Path, run_dir: Path, weights: Path | None = None,
                    tokenizer_weights: Path | None = None, images: tuple[str, ...] = tuple(IMAGES),
                    config: TerraMindTrainConfig = TerraMindTrainConfig(), command: str = "", progress=print) -> Path:
    """Train the weather modalities on TerraMind's `backbone` (a `BACKBONES` key) over `catalog`'s train split;
    TerraMind's encoder from the local checkpoint `weights` (else random), its tokenizers from the folder
    `tokenizer_weights` (else random, seeded); write the checkpoint and model card into `out`, return the path."""
    from tm_weather.catalog import load_catalog
    from tm_weather.model.data import TOKENIZER_OF, Tokenizers
    from tm_weather.train import split_samples

    torch.set_num_threads(config.threads)
    model_config = TerraMindConfig(backbone=backbone, images=images)
    model, built = WeatherTerraMind.build(model_config)
    loaded = f"{weights} (sha256 {sha256(weights)}; {load_terramind(model, weights)} tensors)" if weights else "random (pretrained=False)"
    progress(f"TerraMind {BACKBONES[backbone]}: {loaded}")
    tm_tokenizers = TerraMindTokenizers.adopt(built, tokenizer_weights)
    weather = Tokenizers.load()
    run_dir.mkdir(parents=True, exist_ok=True)
    samples = split_samples(catalog, "train", weather, None, run_dir, progress)  # no regression: absolute targets
    tiles = tile_images(load_catalog(catalog), "train", tm_tokenizers, progress)

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    trained = model.trained_parameters()
    opt = torch.optim.AdamW(trained.values(), lr=config.lr, weight_decay=0.05, betas=(0.9, 0.95))
    model.train()
    model.backbone.eval()  # frozen: TerraMind's part runs as at inference
    start, losses = time.perf_counter(), {}
    for step in range(config.steps):
        parts = model.losses(*random_batch(samples, tiles, config, gen))
        loss = sum(parts.values()) / len(parts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses = {k: round(float(v.detach()), 4) for k, v in parts.items()}
        if step % 10 == 0 or step == config.steps - 1:
            progress(f"step {step + 1}/{config.steps}: loss {float(loss.detach()):.3f} " + " ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    seconds = time.perf_counter() - start
    model.eval()

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"transformer-{backbone}.safetensors"
    weather_hashes = {k: weather.hashes[k] for k in sorted({TOKENIZER_OF[n] for n in TARGETS + ("gfs",)})}
    save(model, path, {"tokenizers": yaml.safe_dump(weather_hashes), "terramind_weights": str(weights or "random"),
                       "terramind_tokenizers": json.dumps(tm_tokenizers.loaded)})
    frozen = sum(p.numel() for p in model.backbone.parameters())
    card = {
        "model": "tm-weather weather modalities on TerraMind's encoder (tm_weather/terramind/model.py)",
        "checkpoint": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
        "command": command,
        "loaded": {
            "backbone": f"{BACKBONES[backbone]} from terratorch's TERRATORCH_BACKBONE_REGISTRY: {loaded}",
            "image_tokenizers": {n: f"{IMAGES[n].tokenizer}: {src}" for n, src in tm_tokenizers.loaded.items()},
            "weather_tokenizers": weather_hashes,
        },
        "new": {
            "modalities": list(TARGETS + INPUTS),
            "parts": "token tables, modality vectors and positions of the weather modalities; coords/time MLPs; "
                     f"{model_config.decoder_layers} decoder blocks with cross-attention; one FSQ-digit head per target",
            "parameters": sum(p.numel() for p in trained.values()),
        },
        "trained": {"parameters": "the new ones only", "frozen_terramind_parameters": frozen, **asdict(config),
                    "seconds": round(seconds, 1), "final_losses": losses},
        "data": {"catalog": str(catalog), "train_samples": len(samples), "train_tiles": len(tiles.present["s2l2a"])},
        "skill": "none to expect: TerraMind's part is random (plumbing only)" if not weights else "not measured by this command",
        "config": asdict(model_config),
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": str(torch.__version__),
    }
    write_text(path.with_suffix(".yaml"), yaml.safe_dump(card, sort_keys=False))
    return path


def parse_images(text: str) -> tuple[str, ...]:
    """`--terramind-images` "s2l2a,dem" -> ("s2l2a", "dem"); `InputError` for unknown names or no s2l2a."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if "s2l2a" not in names or not set(names) <= set(IMAGES):
        raise InputError("--terramind-images", "value", f"s2l2a and any of {', '.join(IMAGES)}, comma-separated", text)
    return names


def run(args) -> int:
    """The CLI's `train --backbone terramind-*` (`args` as `commands.train` parses them): the catalog (default: the
    preset's benchmark world), `--steps` (default: `TerraMindTrainConfig.steps`), the run folder
    (default: runs/<backbone>)."""
    from tm_weather.errors import EXIT_OK
    from tm_weather.tokenizers.image_data import world_catalog
    from tm_weather.train import PRESETS

    config = TerraMindTrainConfig() if args.steps is None else TerraMindTrainConfig(steps=args.steps)
    catalog = args.catalog or world_catalog(preset=PRESETS[args.preset].world)
    path = train_terramind(args.backbone, Path(catalog), args.out, Path(args.run_dir or Path("runs") / args.backbone),
                           args.terramind_weights, args.terramind_tokenizers, parse_images(args.terramind_images),
                           config, command=command(args))
    print(f"wrote {path} and {path.with_suffix('.yaml')}")
    return EXIT_OK


def command(args) -> str:
    """The `tm-weather train` command line that `args` stand for (for the model card)."""
    parts = ["tm-weather train --backbone", args.backbone, "--terramind-images", args.terramind_images]
    for flag, value in (("--catalog", args.catalog), ("--steps", args.steps), ("--terramind-weights", args.terramind_weights),
                        ("--terramind-tokenizers", args.terramind_tokenizers)):
        parts += [flag, str(value)] if value is not None else []
    return " ".join(parts)
