"""Golden tests, one per shipped checkpoint: a fixed real input -> fixed tokens and reconstruction.

The inputs are real data only: ERA5 fixture windows and fields (for the GFS-residual and field-pattern tokenizers:
held-out windows minus their daily means, fields minus their means), and the Sentinel-2 / DEM / NDVI / LULC
example tiles in tests/data (never trained on). The expected values live in `tokenizers/golden.json`, written by
`python tests/test_tokenizers_golden.py` right after a checkpoint is (re)trained.

Tolerances: series tokens exact; image tokens at least 98 % identical (a latent sitting on a rounding edge may
flip between BLAS builds); reconstructions from the golden tokens to 1e-3 of the value's scale; and the
reconstruction error of the input within the card's held-out figure, with a stated margin.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tm_weather.tokenizers.cards import read_card
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, load_tokenizer

GOLDEN = CHECKPOINT_DIR / "golden.json"
EXAMPLES = Path(__file__).parent / "data" / "sentinel2" / "terramind-examples"
SERIES_ROWS = [0, 1, 2000, 4001, 6467]  # held-out (point, day) windows of the ERA5 fixture
SAMPLES = 64  # reconstruction values kept per golden


@functools.cache
def _real_tile(kind: str) -> torch.Tensor:
    """The first real example tile of `kind` on its S-2 grid: S2L2A `(1, 12, 224, 224)` reflectance, DEM and
    NDVI `(1, 1, 224, 224)`, LULC `(1, 224, 224)` classes 0-8."""
    from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_ndvi, read_s2l2a

    name = sorted((EXAMPLES / "S2L2A").glob("*.tif"))[0].name
    s2 = read_s2l2a(EXAMPLES / "S2L2A" / name, boa_add_offset=0)
    if kind == "s2l2a":
        return torch.from_numpy(np.nan_to_num(s2.reflectance.values))[None]
    reader = {"dem": read_dem, "ndvi": read_ndvi, "lulc": read_lulc}[kind]
    values = reader(EXAMPLES / kind.upper() / name, s2.grid).values
    if kind == "lulc":
        return torch.from_numpy(values.astype(np.int64) - 1)[None]
    return torch.from_numpy(values.astype(np.float32))[None, None]


@functools.cache
def _hourly_windows() -> torch.Tensor:
    from tm_weather.tokenizers.series_data import hourly_task

    return hourly_task(24).test[SERIES_ROWS]


def golden_input(modality: str, config) -> torch.Tensor:
    """The fixed input of a modality's golden test."""
    if modality.startswith("t2m_hourly"):
        return _hourly_windows()
    if modality == "t2m_daily":
        from tm_weather.tokenizers.series_data import daily_task

        return daily_task(config.length).test[:4]
    if modality == "t2m_residual":
        windows = _hourly_windows()
        return windows - windows.mean(dim=-1, keepdim=True)
    if modality in ("t2m_field", "t2m_pattern"):
        from tm_weather.tokenizers.image_data import t2m_field_task
        from tm_weather.tokenizers.pattern import pattern

        fields = t2m_field_task(None).test[[0, 17]]
        return fields if modality == "t2m_field" else pattern(fields)
    return _real_tile(modality)


def _sample(x: torch.Tensor) -> list[float]:
    flat = x.reshape(-1).to(torch.float64)
    return [round(float(v), 5) for v in flat[:: max(1, flat.numel() // SAMPLES)][:SAMPLES]]


def _shipped() -> list[str]:
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.yaml"))


@pytest.mark.parametrize("modality", _shipped())
def test_golden(modality):
    card = read_card(CHECKPOINT_DIR / f"{modality}.yaml")  # checks the sha256 too
    model, _ = load_tokenizer(CHECKPOINT_DIR / card["checkpoint"])
    gold = json.loads(GOLDEN.read_text())[modality]
    x = golden_input(modality, model.config)
    tokens = model.encode(x)
    expected = torch.tensor(gold["tokens"])
    assert tokens.shape == expected.shape
    agreement = float((tokens == expected).float().mean())
    assert agreement >= (1.0 if tokens.ndim == 2 else 0.98), f"{modality}: {agreement:.3f} of tokens agree"

    recon = model.decode(expected)
    scale = max(abs(v) for v in gold["reconstruction"]) or 1.0
    assert _sample(recon) == pytest.approx(gold["reconstruction"], abs=1e-3 * scale)

    if getattr(model.config, "classes", 0):
        accuracy = float((model.decode(tokens) == x).float().mean())
        assert accuracy >= gold["quality"] - 0.02
    else:
        rmse = float((model.decode(tokens) - x).pow(2).mean().sqrt())
        assert rmse <= gold["quality"] * 1.05 + 1e-6, f"{modality}: RMSE {rmse} vs golden {gold['quality']}"


def write_golden() -> None:
    """(Re)write `tokenizers/golden.json` from the shipped checkpoints."""
    out = {}
    for modality in _shipped():
        model, _ = load_tokenizer(CHECKPOINT_DIR / f"{modality}.safetensors")
        x = golden_input(modality, model.config)
        tokens = model.encode(x)
        recon = model.decode(tokens)
        if getattr(model.config, "classes", 0):
            quality = (recon == x).float().mean()
        else:
            quality = (recon - x).pow(2).mean().sqrt()
        out[modality] = {
            "tokens": tokens.tolist(), "reconstruction": _sample(recon), "quality": round(float(quality), 6)
        }
    GOLDEN.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    sys.exit(write_golden())
