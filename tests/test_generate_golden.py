"""Golden tests of the shipped transformer checkpoint (`checkpoints/transformer-full.safetensors`): its card and
hashes, and fixed generations on two real Sentinel-2 tiles.

Tolerance: tile means within 0.5 K of the values recorded when the checkpoint shipped. Sampling is seeded, but a
different CPU or BLAS can round a logit differently and flip a sampled token; one flipped token out of 196 moves
a tile mean by a few hundredths of a kelvin, so 0.5 K only fails when generation itself has changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from model_support import one_thread  # noqa: F401  (fixture)
from tm_weather.model import DEFAULT_CHECKPOINT
from tm_weather.model.data import Tokenizers
from tm_weather.tiles import read_tile
from tm_weather.model.generate import GenerationConfig, generate_tile
from tm_weather.model.transformer import load_model
from tm_weather.tokenizers.registry import sha256

CHECKPOINT = DEFAULT_CHECKPOINT
#: real tile -> tile-mean ensemble-mean T2M (K) at its acquisition time, 4 members, seed 0, recorded at shipping.
GOLDEN = {"38D_378R_2_3": 286.175, "609U_541L_3_0": 267.871}  # Tanzania, June; Ontario under snow, January


@pytest.fixture(scope="module")
def shipped():
    return load_model(CHECKPOINT)


def test_card_matches_the_checkpoint_and_its_tokenizers(shipped):
    card = yaml.safe_load(CHECKPOINT.with_suffix(".yaml").read_text())
    assert card["sha256"] == sha256(CHECKPOINT) and card["bytes"] == CHECKPOINT.stat().st_size < 5e6
    _, meta = shipped
    assert yaml.safe_load(meta["tokenizers"]) == card["tokenizers"] == Tokenizers.load().hashes
    assert {"val/field_rmse_k", "val/t2m_field"} <= set(card["metrics"])


@pytest.fixture(scope="module")
def generated(shipped):
    """Tile-mean ensemble-mean T2M (K) of each `GOLDEN` tile at its acquisition time, 4 members, seed 0."""
    model, _ = shipped
    tiles = Path(__file__).parent / "data" / "sentinel2" / "terramind-examples"
    out = {}
    for name in GOLDEN:
        tile = read_tile(tiles / "S2L2A" / f"{name}.tif", tiles / "DEM" / f"{name}.tif", tiles / "LULC" / f"{name}.tif",
                         boa_add_offset=0)
        ds = generate_tile(model, Tokenizers.load(), tile, tile.acquired, config=GenerationConfig(members=4, seed=0))
        assert bool(torch.isfinite(torch.from_numpy(ds["t2m"].values)).all())
        out[name] = float(ds["t2m_mean"].mean())
    return out


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_generation_on_real_tiles(generated, name):
    assert abs(generated[name] - GOLDEN[name]) < 0.5


def test_snowy_ontario_january_far_colder_than_tanzania_june(generated):
    assert generated["609U_541L_3_0"] < generated["38D_378R_2_3"] - 10
