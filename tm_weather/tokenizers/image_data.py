"""Training and evaluation images for the image tokenizers.

- S2L2A, DEM, NDVI, LULC: the benchmark world's tiles (`tm-weather world --preset full --seed 0`, built once
  into the user's cache folder, where `tm_weather.train` finds it too): trained on random 96 x 96 crops
  (with flips and quarter turns) of the train split, evaluated on the whole 224 x 224 tiles of the test split.
  Sentinel-2 is also evaluated on the five real tiles in `tests/data/sentinel2` (never trained on). NDVI is
  (B08 - B04) / (B08 + B04) of the tile's reflectance; LULC classes 1-9 become 0-8.
- T2M field: the real ERA5 fixture's 0.25 deg fields; a 14 x 14-cell crop bilinearly resampled to 224 x 224 px
  (one token per ERA5 cell); trained on hours before 2019-03-18, evaluated on every 6th held-out hour.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tm_weather.tokenizers.fsq import codebook_usage, perplexity
from tm_weather.tokenizers.series_data import ERA5_FIXTURE
from tm_weather.shipped import FIXTURES


REAL_S2 = FIXTURES / "sentinel2" / "terramind-examples" / "S2L2A"
CROP = 96  # training crop, px (6 x 6 tokens)
#: The T2M field tokenizer's held-out hours start here (it was trained on the hours before; the hourly series
#: tokenizers hold out more days, from `series_data.HOLDOUT_START`).
FIELD_HOLDOUT_START = np.datetime64("2019-03-18")
WORLD_PRESET, WORLD_SEED = "full", 0  # 16 train tiles, 6 test tiles (the demo world has 6 and 2)
#: PSNR peak: reflectance 1 (DN 10000) for S-2; the physical range for the others.
PEAK = {"s2l2a": 1.0, "dem": 3000.0, "ndvi": 2.0, "t2m_field": 60.0, "t2m_pattern": 4.0}
UNITS = {"s2l2a": "reflectance", "dem": "m", "ndvi": "NDVI", "t2m_field": "K", "t2m_pattern": "K"}


def world_catalog(world: Path | None = None, preset: str = WORLD_PRESET) -> Path:
    """The catalog of the world in folder `world`, or of the benchmark world of `preset` (seed `WORLD_SEED`), built
    once into the user's cache folder: the default training data of the tokenizers and the transformer."""
    from tm_weather.world.build import CATALOG
    from tm_weather.world.cache import cached_world

    return (Path(world) if world is not None else cached_world(preset, WORLD_SEED)) / CATALOG


@functools.lru_cache(maxsize=2)
def world_tiles(catalog: Path, split: str) -> dict[str, torch.Tensor]:
    """The tiles of `split` of the world whose catalog is `catalog`: s2l2a `(n, 12, 224, 224)` reflectance, dem
    `(n, 1, ...)` m, ndvi `(n, 1, ...)`, lulc `(n, 224, 224)` int64 0-8."""
    from tm_weather.catalog import load_catalog
    from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a

    cat = load_catalog(catalog)
    names = set(cat.splits[split].tiles)
    out: dict[str, list] = {"s2l2a": [], "dem": [], "ndvi": [], "lulc": []}
    for tile in (t for t in cat.tiles if t.name in names):
        s2 = read_s2l2a(cat.path(tile.s2), time=tile.time)
        refl = np.nan_to_num(s2.reflectance.values)
        out["s2l2a"].append(refl)
        out["dem"].append(read_dem(cat.path(tile.dem), s2.grid).values[None])
        out["lulc"].append(read_lulc(cat.path(tile.lulc), s2.grid).values.astype(np.int64) - 1)
        out["ndvi"].append(ndvi(refl)[None])
    return {k: torch.from_numpy(np.stack(v).astype(np.int64 if k == "lulc" else np.float32)) for k, v in out.items()}


def ndvi(reflectance: np.ndarray) -> np.ndarray:
    """NDVI `(y, x)` = (B08 - B04) / (B08 + B04) of reflectance `(12, y, x)` in `S2_BANDS` order."""
    b4, b8 = reflectance[3], reflectance[7]
    return (b8 - b4) / np.maximum(b8 + b4, 1e-6)


def real_s2_tiles() -> torch.Tensor:
    """The five real Sentinel-2 L2A tiles in tests/data `(5, 12, 224, 224)` reflectance (no offset: harmonised)."""
    from tm_weather.sources.sentinel2 import read_s2l2a

    tiles = [np.nan_to_num(read_s2l2a(p, boa_add_offset=0).reflectance.values) for p in sorted(REAL_S2.glob("*.tif"))]
    return torch.from_numpy(np.stack(tiles).astype(np.float32))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random quarter turn and flip of the last two dims."""
    k = int(torch.randint(0, 4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(-2, -1))
    return x.flip(-1) if bool(torch.randint(0, 2, (1,), generator=gen)) else x


def random_crops(images: torch.Tensor, batch: int, gen: torch.Generator, crop: int = CROP) -> torch.Tensor:
    """`images (n, [c,] h, w)` -> `batch` random augmented crops `(batch, [c,] crop, crop)`."""
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    out = []
    for _ in range(batch):
        i = int(torch.randint(0, n, (1,), generator=gen))
        y = int(torch.randint(0, h - crop + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - crop + 1, (1,), generator=gen))
        out.append(augment(images[i, ..., y : y + crop, x : x + crop], gen))
    return torch.stack(out)


def psnr_db(err: torch.Tensor, peak: float) -> list[float]:
    """Per-channel PSNR (dB) of an error `(b, c, h, w)` against `peak`."""
    mse = err.pow(2).mean(dim=(0, 2, 3))
    return [round(float(10 * torch.log10(peak**2 / m)), 2) for m in mse]


class ImageTask:
    """Random training crops from `train`, whole-image evaluation on `test` (and on `extra` named sets)."""

    def __init__(self, name: str, draw: Callable, test: torch.Tensor, data: str, extra: dict | None = None):
        self.name, self._draw, self.test, self.data, self.extra = name, draw, test, data, extra or {}

    def draw(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        return self._draw(gen, batch)

    @torch.no_grad()
    def evaluate(self, model) -> dict:
        """Held-out quality: RMSE and PSNR per channel (accuracy for classes) and codebook use."""
        metrics = self._quality(model, self.test)
        for label, images in self.extra.items():
            metrics[label] = self._quality(model, images)
        return metrics

    def _quality(self, model, images: torch.Tensor) -> dict:
        indices = torch.cat([model.encode(x) for x in images.split(4)])
        recon = torch.cat([model.decode(i) for i in indices.split(4)])
        size = model.fsq.codebook_size
        use = {
            "codebook_usage": round(codebook_usage(indices, size), 4),
            "perplexity": round(perplexity(indices, size), 1),
        }
        if model.config.classes:
            accuracy = round(float((recon == images).float().mean()), 4)
            return {"headline": ["pixel accuracy", accuracy], "pixel_accuracy": accuracy, **use, "images": len(images)}
        err = recon - images
        rmse = err.pow(2).mean(dim=(0, 2, 3)).sqrt()
        psnr = psnr_db(err, PEAK[self.name])
        total = round(float(err.pow(2).mean().sqrt()), 4)
        if self.name == "s2l2a":
            headline = ["mean PSNR dB", round(sum(psnr) / len(psnr), 2)]
        else:
            headline = [f"RMSE {UNITS[self.name]}", total]
        return {
            "headline": headline,
            "rmse": total,
            "rmse_per_channel": [round(float(v), 4) for v in rmse],
            "psnr_db_per_channel": psnr,
            **use,
            "images": len(images),
        }


def world_task(name: str, world: Path | None) -> ImageTask:
    """S2L2A, DEM, NDVI or LULC from the world's train (crops) and test (whole tiles) splits."""
    train, test = world_tiles(world_catalog(world), "train")[name], world_tiles(world_catalog(world), "test")[name]
    where = f"world {world}" if world else f"tm-weather world --preset {WORLD_PRESET} --seed {WORLD_SEED}"
    data = f"{where}: train split {len(train)} tiles (96 px crops), test split {len(test)} tiles"
    extra = {"real_tiles": real_s2_tiles()} if name == "s2l2a" else None
    if extra:
        data += f"; also the {len(extra['real_tiles'])} real tiles in tests/data/sentinel2 (evaluation only)"
    return ImageTask(name, lambda gen, batch: random_crops(train, batch, gen), test, data, extra)


def t2m_field_task(path: Path | None) -> ImageTask:
    """T2M fields `(b, 1, 224, 224)` K from 14 x 14-cell ERA5 crops, trained on hours before `FIELD_HOLDOUT_START`."""
    from tm_weather.tokenizers.series_data import load_hourly

    path = path or ERA5_FIXTURE
    hourly = load_hourly(path)
    ny = len(np.unique(hourly.lat))
    fields = torch.from_numpy(hourly.values.T.reshape(len(hourly.times), ny, -1).copy())  # (time, y, x)
    cut = int(np.searchsorted(hourly.times, FIELD_HOLDOUT_START))
    train, held = fields[:cut], fields[cut::6]

    def draw(gen: torch.Generator, batch: int) -> torch.Tensor:
        cells = CROP // 16
        t = torch.randint(0, len(train), (batch,), generator=gen)
        y = torch.randint(0, train.shape[1] - cells + 1, (batch,), generator=gen)
        x = torch.randint(0, train.shape[2] - cells + 1, (batch,), generator=gen)
        crops = torch.stack([train[a, b : b + cells, c : c + cells] for a, b, c in zip(t, y, x)])
        return augment(_upsample(crops), gen)

    corners = [(0, 0), (0, 35), (19, 0), (19, 35)]  # four 14 x 14-cell crops covering the 33 x 49 grid
    test = torch.cat([_upsample(held[:, y : y + 14, x : x + 14]) for y, x in corners])
    data = (f"{Path(path).name}: 14 x 14-cell crops, bilinear to 224 px; train hours before {FIELD_HOLDOUT_START}, "
            f"test every 6th hour from it ({len(held)} hours x 4 crops)")
    return ImageTask("t2m_field", draw, test, data)


def _upsample(cells: torch.Tensor) -> torch.Tensor:
    """`(b, k, k)` K cells -> `(b, 1, 16k, 16k)` K, bilinear."""
    return F.interpolate(cells[:, None], scale_factor=16, mode="bilinear", align_corners=False)
