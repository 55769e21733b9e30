"""Golden tests of the shipped generator: the transformer checkpoint (`checkpoints/transformer-full.safetensors`,
or a candidate named by TM_WEATHER_SHIPPED_CHECKPOINT) with the tokenizers and the regression network it names:
their cards and hashes, and fixed generations on the five real Sentinel-2 tiles without GFS.

Without GFS the regression's base is ERA5's monthly climate at the tile, so each tile's generated day mean must lie
within 6 K of that climate at its place and month (`climatology.packaged().months`): a sanity bound, not a skill
score (a real day departs from its month's mean by a few kelvin).

Golden values (`data/generate_golden.json`): each tile's ensemble-mean T2M at its acquisition time and its day
mean, 4 members, seed 0, recorded with the checkpoint's sha256. Record them anew for a new checkpoint with
`TM_WEATHER_UPDATE_GOLDEN=1 pytest tests/test_generate_golden.py` (`record_golden`). Tolerance 0.5 K: sampling
is seeded, but a different CPU or BLAS can round a logit differently and flip a sampled token; one flipped
residual token moves a profile by tenths of a kelvin at most, so 0.5 K only fails when generation has changed.

All skip while the shipped transformer predates the regression split (no `regression` metadata).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from model_support import SHIPPED_CHECKPOINT, needs_shipped_regression, one_thread, shipped_regression  # noqa: F401
from tm_weather.climatology import packaged
from tm_weather.model.data import Tokenizers
from tm_weather.model.generate import GenerationConfig
from tm_weather.model.generator import Generator
from tm_weather.tiles import read_tile
from tm_weather.tokenizers.registry import sha256

pytestmark = needs_shipped_regression

CHECKPOINT = SHIPPED_CHECKPOINT
TILES = Path(__file__).parent / "data" / "sentinel2" / "terramind-examples"
NAMES = sorted(p.stem for p in (TILES / "S2L2A").glob("*.tif"))
GOLDEN_FILE = Path(__file__).parent / "data" / "generate_golden.json"
TOLERANCE_K = 0.5
CONFIG = GenerationConfig(members=4, seed=0)
TANZANIA_JUNE, ONTARIO_JANUARY = "38D_378R_2_3", "609U_541L_3_0"  # the latter under snow


def test_five_real_tiles():
    assert len(NAMES) == 5 and {TANZANIA_JUNE, ONTARIO_JANUARY} <= set(NAMES)


def test_card_matches_the_checkpoint_its_tokenizers_and_its_regression():
    from tm_weather.model.transformer import load_model

    card = yaml.safe_load(CHECKPOINT.with_suffix(".yaml").read_text())
    assert card["sha256"] == sha256(CHECKPOINT) and card["bytes"] == CHECKPOINT.stat().st_size < 5e6
    _, meta = load_model(CHECKPOINT)
    assert yaml.safe_load(meta["tokenizers"]) == card["tokenizers"] == Tokenizers.load().hashes
    trained = shipped_regression(CHECKPOINT)
    assert yaml.safe_load(meta["regression"]) == trained == card["regression"]
    regression = CHECKPOINT.parent / trained["checkpoint"]
    assert sha256(regression) == trained["sha256"]
    assert yaml.safe_load(regression.with_suffix(".yaml").read_text())["sha256"] == trained["sha256"]
    assert {"val/profile_rmse_gfs_k", "val/profile_rmse_clim_k", "val/t2m_residual", "val/t2m_residual_clim"} <= set(card["metrics"])


@pytest.fixture(scope="module")
def generated():
    """Per tile (S-2, DEM, LULC; no GFS) at its acquisition time: the ensemble-mean tile-mean T2M (K), the day
    mean of the ensemble-mean hourly profile (K), the acquisition month and the tile centre."""
    generator = Generator.load(CHECKPOINT)
    out = {}
    for name in NAMES:
        tile = read_tile(TILES / "S2L2A" / f"{name}.tif", TILES / "DEM" / f"{name}.tif", TILES / "LULC" / f"{name}.tif",
                         boa_add_offset=0)
        ds = generator.tile(tile, tile.acquired, None, CONFIG)
        assert bool(np.isfinite(ds["t2m"].values).all()) and "gfs" not in ds.attrs["conditioned_on"].split()
        out[name] = {"t2m_mean": round(float(ds["t2m_mean"].mean()), 3),
                     "day_mean": round(float(ds["t2m_hourly_mean"].mean()), 3),
                     "month": int(str(tile.acquired)[5:7]), "lat": float(tile.lat), "lon": float(tile.lon)}
    if os.environ.get("TM_WEATHER_UPDATE_GOLDEN") == "1":
        record_golden(out)
    return out


def record_golden(generated: dict, path: Path = GOLDEN_FILE) -> None:
    """Write the golden values of `generated` for the shipped checkpoint (its and its regression's sha256)."""
    trained = shipped_regression(CHECKPOINT)
    golden = {"checkpoint": CHECKPOINT.name, "checkpoint_sha256": sha256(CHECKPOINT),
              "regression": trained["checkpoint"], "regression_sha256": trained["sha256"],
              "config": {"members": CONFIG.members, "seed": CONFIG.seed, "gfs": None},
              "tiles": {k: {"t2m_mean": v["t2m_mean"], "day_mean": v["day_mean"]} for k, v in generated.items()}}
    path.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def golden(generated):
    if not GOLDEN_FILE.exists():
        pytest.fail(f"no golden values: record them with TM_WEATHER_UPDATE_GOLDEN=1 ({GOLDEN_FILE})")
    golden = json.loads(GOLDEN_FILE.read_text())
    assert golden["checkpoint_sha256"] == sha256(CHECKPOINT), (
        f"{GOLDEN_FILE.name} was recorded with another checkpoint: record anew with TM_WEATHER_UPDATE_GOLDEN=1")
    assert golden["regression_sha256"] == shipped_regression(CHECKPOINT)["sha256"]
    return golden["tiles"]


@pytest.mark.parametrize("name", NAMES)
def test_golden_generation_on_real_tiles(generated, golden, name):
    assert set(golden) == set(NAMES)
    for key in ("t2m_mean", "day_mean"):
        assert abs(generated[name][key] - golden[name][key]) < TOLERANCE_K, (name, key, generated[name], golden[name])


@pytest.mark.parametrize("name", NAMES)
def test_day_mean_without_gfs_is_near_the_era5_climate(generated, name):
    g = generated[name]
    months = packaged().months(g["lat"], g["lon"])
    assert months.shape == (12,)
    assert abs(g["day_mean"] - float(months[g["month"] - 1])) < 6.0, (name, g, float(months[g["month"] - 1]))


def test_snowy_ontario_january_far_colder_than_tanzania_june(generated):
    assert generated[ONTARIO_JANUARY]["month"] == 1 and generated[TANZANIA_JUNE]["month"] == 6
    assert generated[ONTARIO_JANUARY]["t2m_mean"] < generated[TANZANIA_JUNE]["t2m_mean"] - 10
    assert generated[ONTARIO_JANUARY]["day_mean"] < generated[TANZANIA_JUNE]["day_mean"] - 10
