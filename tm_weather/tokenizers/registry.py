"""Modality name -> how its tokenizer is built, trained and evaluated, and its checkpoint I/O.

Each `Modality` names its model config and training settings per preset (`demo`: minutes on a shared CPU;
`full`: longer), and a `task(data_path)` giving random training batches and a held-out `evaluate(model)`.
A checkpoint is one safetensors file whose metadata holds the modality and the model config as JSON, so
`load_tokenizer(path)` rebuilds the model with nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from tm_weather.checkpoint_io import read_safetensors, save_safetensors
from tm_weather.errors import InputError
from tm_weather.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
from tm_weather.tokenizers.image_data import t2m_field_task, world_task
from tm_weather.tokenizers.pattern import pattern_task
from tm_weather.tokenizers.residual import residual_task
from tm_weather.tokenizers.series import SeriesTokenizer, SeriesTokenizerConfig
from tm_weather.tokenizers.series_data import daily_task, hourly_task
from tm_weather.tokenizers.train import TrainConfig
from tm_weather.shipped import TOKENIZER_DIR as CHECKPOINT_DIR  # noqa: F401  (re-exported: the one folder of tokenizers)



@dataclass(frozen=True)
class Preset:
    """A model size and its training run."""

    model: SeriesTokenizerConfig | ImageTokenizerConfig
    train: TrainConfig


@dataclass(frozen=True)
class Modality:
    """A tokenized modality: `task(model_config, data_path or None)` loads its training and held-out data
    (None: the default, shipped data)."""

    name: str
    description: str
    tokenizer: type[nn.Module]
    config: type
    presets: dict[str, Preset]
    task: Callable

    def build(self, config) -> nn.Module:
        return self.tokenizer(config)


#: Training draws of the hourly tokenizers scale half the windows' diurnal anomalies by x0.4..x2.5 (`HourlyTask`).
HOURLY_AMPLITUDE = 2.5


def _hourly_task(config: SeriesTokenizerConfig, path: Path | None):
    return hourly_task(config.length, path, HOURLY_AMPLITUDE)


def _hourly(tokens: int, level_digits: int, hidden: int, steps: int) -> dict[str, Preset]:
    """Presets of a 24 h, `tokens`-token hourly tokenizer whose first `level_digits` digits are the daily mean on a
    fixed grid over 200..330 K (`SeriesTokenizerConfig`); the 1- and 4-token ones are the benchmark's curve."""
    model = SeriesTokenizerConfig(tokens=tokens, hidden=hidden, search_passes=2, level_digits=level_digits, scale_k=5.0)
    return {
        "demo": Preset(model, TrainConfig(steps=steps, batch=512, lr=3e-3)),
        "full": Preset(replace(model, hidden=2 * hidden), TrainConfig(steps=8 * steps, batch=1024, lr=2e-3)),
    }


#: TerraMind's pre-training standardisation (DESIGN.md), S-2 converted from DN to reflectance (/ 10000).
S2_MEAN = (1390.458, 1503.317, 1718.197, 1853.91, 2199.1, 2779.975, 2987.011, 3083.234, 3132.22, 3162.988,
           2424.884, 1857.648)
S2_STD = (2106.761, 2141.107, 2038.973, 2134.138, 2085.321, 1889.926, 1820.257, 1871.918, 1753.829, 1797.379,
          1434.261, 1334.311)
IMAGE_CONFIGS = {
    "s2l2a": ImageTokenizerConfig(
        channels=12, mean=tuple(m / 1e4 for m in S2_MEAN), std=tuple(s / 1e4 for s in S2_STD)
    ),
    "dem": ImageTokenizerConfig(mean=(670.665,), std=(951.272,)),
    "ndvi": ImageTokenizerConfig(mean=(0.327,), std=(0.322,)),
    "lulc": ImageTokenizerConfig(classes=9, levels=(7, 5, 5, 5, 5)),
    "t2m_field": ImageTokenizerConfig(mean=(280.0,), std=(10.0,)),
}
IMAGE_DESCRIPTIONS = {
    "s2l2a": "Sentinel-2 L2A, 12 bands, reflectance",
    "dem": "elevation, m",
    "ndvi": "NDVI",
    "lulc": "land cover, 9 classes (cross-entropy)",
    "t2m_field": "2 m temperature field, K (ERA5 0.25 deg cells, 16 px each)",
}


def _image(name: str) -> Modality:
    base = IMAGE_CONFIGS[name]
    presets = {
        "demo": Preset(replace(base, width=32, blocks=1), TrainConfig(steps=2000, batch=8, lr=2e-3)),
        "full": Preset(replace(base, width=64, blocks=2), TrainConfig(steps=20000, batch=16, lr=1e-3)),
    }
    if name == "t2m_field":
        task = lambda config, path: t2m_field_task(path)  # noqa: E731
    else:
        task = lambda config, path: world_task(name, path)  # noqa: E731
    description = f"{IMAGE_DESCRIPTIONS[name]}: 224 px, 14 x 14 tokens"
    return Modality(name, description, ImageTokenizer, ImageTokenizerConfig, presets, task)


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality("t2m_hourly", "hourly 2 m temperature, 24 h windows, 2 tokens: the daily mean on a 0.25 K grid over "
                 "200..330 K (3 digits of token 0), the shape about it (the other 7 digits)", SeriesTokenizer,
                 SeriesTokenizerConfig, _hourly(2, 3, 256, 8000), _hourly_task),
        Modality("t2m_hourly_1tok", "hourly 2 m temperature, 24 h windows, 1 token: the daily mean on a 2 K grid "
                 "(2 digits), the shape (3 digits) (benchmark curve)", SeriesTokenizer,
                 SeriesTokenizerConfig, _hourly(1, 2, 128, 4000), _hourly_task),
        Modality("t2m_hourly_4tok", "hourly 2 m temperature, 24 h windows, 4 tokens: the daily mean on a 0.25 K grid "
                 "(3 digits), the shape (17 digits) (benchmark curve)", SeriesTokenizer,
                 SeriesTokenizerConfig, _hourly(4, 3, 128, 4000), _hourly_task),
        Modality(
            "t2m_daily", "daily mean/min/max 2 m temperature, 16-day windows (32 in `full`), 4 tokens (8)",
            SeriesTokenizer, SeriesTokenizerConfig,
            {
                "demo": Preset(SeriesTokenizerConfig(length=16, channels=3, tokens=4, hidden=128, search_passes=2),
                               TrainConfig(steps=3000, batch=256, lr=2e-3, weight_decay=0.01)),
                "full": Preset(SeriesTokenizerConfig(length=32, channels=3, tokens=8, hidden=256, search_passes=2),
                               TrainConfig(steps=20000, batch=512, lr=2e-3, weight_decay=0.01)),
            },
            lambda config, path: daily_task(config.length, path),
        ),
        Modality(
            "t2m_residual", "tile 2 m temperature minus GFS at the tile, 24 h windows, 4 tokens (tm_weather.tokenizers.residual)",
            SeriesTokenizer, SeriesTokenizerConfig,
            {"demo": Preset(SeriesTokenizerConfig(tokens=4, hidden=128, offset_k=0.0, scale_k=2.0),
                            TrainConfig(steps=3000, batch=256, lr=2e-3, weight_decay=0.01))},
            residual_task,
        ),
        Modality(
            "t2m_pattern", "2 m temperature field minus its tile mean, K, at the tile's scale (tm_weather.tokenizers.pattern): "
            "224 px, 14 x 14 tokens", ImageTokenizer, ImageTokenizerConfig,
            {"demo": Preset(ImageTokenizerConfig(mean=(0.0,), std=(0.5,), width=32, blocks=1),
                            TrainConfig(steps=2000, batch=8, lr=2e-3))},
            lambda config, path: pattern_task(path),
        ),
        *(_image(name) for name in IMAGE_CONFIGS),
    )
}


def get_modality(name: str) -> Modality:
    if name not in MODALITIES:
        raise InputError("--modality", "name", f"one of {sorted(MODALITIES)}", repr(name))
    return MODALITIES[name]


def save_tokenizer(model: nn.Module, modality: str, path: Path) -> str:
    """Write `model` as float16 safetensors with its modality and config in the metadata; return its sha256."""
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    meta = {"modality": modality, "config": json.dumps(model.config.to_dict())}
    save_safetensors(tensors, path, meta)
    return sha256(path)


def load_tokenizer(path: str | Path) -> tuple[nn.Module, str]:
    """Checkpoint -> (tokenizer in eval mode, float32, modality name)."""
    path = Path(path)
    tensors, meta = read_safetensors(path, "a safetensors tokenizer checkpoint")
    if "modality" not in meta or "config" not in meta:
        raise InputError(path, "metadata", "'modality' and 'config'", str(sorted(meta)))
    modality = get_modality(meta["modality"])
    try:
        model = modality.build(modality.config.from_dict(json.loads(meta["config"])))
    except (ValueError, TypeError) as e:  # broken JSON, unknown keys, impossible sizes
        raise InputError(path, "metadata config", f"a {modality.name} tokenizer's config as JSON", str(e)[:160]) from e
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:  # missing, unexpected or mis-shaped tensors
        raise InputError(path, "tensors", f"the weights of a {modality.name} tokenizer of its config", str(e)[:160]) from e
    return model.eval(), modality.name


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
