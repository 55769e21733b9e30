"""The within-tile anomaly (`tm_weather.model.anomaly`): shapes and units, determinism, a tiny fit on the tiny
world (resumed after an interruption to the same weights), and generation's field: structure inside the tile
that follows the DEM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from model_support import one_thread, untrained_tokenizers  # noqa: F401  (fixture)
from tm_weather.catalog import load_catalog
from tm_weather.model import DEFAULT_ANOMALY
from tm_weather.model import anomaly_train
from tm_weather.model.anomaly import (STATIC_CHANNELS, TIME_FEATURES, AnomalyConfig, AnomalyModel, AnomalyNet,
                                      ResidualNoise, load_anomaly, static_inputs, time_features)
from tm_weather.tiles import read_tile
from tm_weather.model.generate import GenerationConfig, generate_tile
from tm_weather.model.transformer import ModelConfig, MultiModalTransformer
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS

SMALL = AnomalyConfig(width=8, basis=4, context=4, hidden=16)


def hill(n: int = 224, height: float = 120.0) -> np.ndarray:
    """A Gaussian hill `(n, n)` m on a 500 m plain, 500 m wide (sigma)."""
    yy, xx = np.mgrid[:n, :n] * 10.0
    return 500.0 + height * np.exp(-((yy - 1120) ** 2 + (xx - 1120) ** 2) / (2 * 500.0**2))


def test_inputs_shapes_and_units():
    refl = np.full((12, 224, 224), 0.1, np.float32)
    refl[7] = 0.4  # NIR: NDVI (0.4 - 0.1) / (0.4 + 0.1) = 0.6
    dem = hill()
    x = static_inputs(refl, dem)
    assert x.shape == (STATIC_CHANNELS, 56, 56) and x.dtype == torch.float32
    torch.testing.assert_close(x[12], torch.full((56, 56), 0.6))
    assert abs(float(x[13].mean())) < 1e-5 and 0.5 < float(x[13].max() - x[13].min()) < 1.2  # hm, tile mean removed
    assert float(x[14].min()) == 1.0 and float(static_inputs(refl, None)[13:].abs().max()) == 0.0
    t = time_features(np.array(["2023-06-21T12:00", "2023-06-21T00:00"], dtype="datetime64[m]"), lat=-45.0, lon=90.0)
    assert t.shape == (2, TIME_FEATURES) and float(t.abs().max()) <= 1.0
    # 12 UTC at 90 E is 18 h local solar time: sin(2 pi 18 / 24) = -1
    assert float(t[0, 0]) == pytest.approx(-1.0) and float(t[0, -1]) == pytest.approx(-0.5)


def test_network_shapes_zero_tile_mean_and_deterministic():
    torch.manual_seed(0)
    net = AnomalyNet(SMALL)
    static, times = torch.randn(2, STATIC_CHANNELS, 56, 56), torch.randn(2, 24, TIME_FEATURES)
    out = net(static, times).detach()
    assert out.shape == (2, 24, 56, 56)
    assert float(out.mean((-2, -1)).abs().max()) < 1e-5
    torch.manual_seed(0)
    torch.testing.assert_close(AnomalyNet(SMALL)(static, times), out, rtol=0, atol=0)


def test_residual_noise_fit_recovers_sd_and_length():
    truth = ResidualNoise(sd_k=0.3, length_m=80.0)
    fitted = ResidualNoise.fit(truth.sample(np.random.default_rng(0), 64, (56, 56), 40.0), 40.0)
    assert fitted.sd_k == pytest.approx(0.3, rel=0.05) and fitted.length_m == pytest.approx(80.0, rel=0.15)
    a = truth.sample(np.random.default_rng(1), 2, (56, 56), 40.0)
    np.testing.assert_array_equal(a, truth.sample(np.random.default_rng(1), 2, (56, 56), 40.0))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny world (seed 0) and its catalog path."""
    out = tmp_path_factory.mktemp("world") / "tiny"
    build_world(out, PRESETS["tiny"], 0)
    return out / CATALOG


def test_tiny_fit_from_a_catalog_writes_a_card_and_resumes_to_the_same_weights(tiny, tmp_path, monkeypatch):
    path = anomaly_train.train_anomaly(tiny, "tiny", out=tmp_path / "ck", run_dir=tmp_path / "run", progress=False)
    card = yaml.safe_load(path.with_suffix(".yaml").read_text())
    model = load_anomaly(path)
    assert card["bytes"] == path.stat().st_size < 2e6 and card["data"]["train_tile_days"] > 0
    assert card["metrics"]["val_spatial_rmse_k"] > 0 and card["fit"]["cpu_seconds"] > 0
    assert model.noise.sd_k > 0 and model.noise.length_m > 0

    catalog = load_catalog(tiny)
    train = anomaly_train.anomaly_data(catalog, "train")
    assert train.target.shape[1:] == (24, 56, 56) and train.cell_m == pytest.approx(40.0)
    config = replace(anomaly_train.PRESETS["tiny"], steps=12, save_every=4, model=SMALL)
    whole = anomaly_train.fit(train, config, progress=False)
    calls = {"n": 0}
    real = anomaly_train.masked_mse

    def interrupted(pred, target):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(pred, target)

    state = tmp_path / "state.pt"
    monkeypatch.setattr(anomaly_train, "masked_mse", interrupted)
    with pytest.raises(KeyboardInterrupt):
        anomaly_train.fit(train, config, state, progress=False)
    monkeypatch.setattr(anomaly_train, "masked_mse", real)
    resumed = anomaly_train.fit(train, config, state, progress=False)
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=0)


def test_train_command_fits_the_anomaly_network_on_a_catalog(tiny, tmp_path, capsys):
    from tm_weather.cli import main

    args = ["train", "--preset", "demo", "--part", "anomaly", "--catalog", str(tiny), "--steps", "4",
            "--out", str(tmp_path), "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0 and "anomaly-demo.safetensors" in capsys.readouterr().out
    card = yaml.safe_load((tmp_path / "anomaly-demo.yaml").read_text())
    assert card["fit"]["steps"] == 4 and card["data"]["catalog"] == str(tiny)
    assert load_anomaly(tmp_path / "anomaly-demo.safetensors").net.config == AnomalyConfig()


@pytest.fixture(scope="module")
def shipped():
    return load_anomaly(DEFAULT_ANOMALY)


def test_shipped_card_matches(shipped):
    from tm_weather.tokenizers.registry import sha256

    card = yaml.safe_load(DEFAULT_ANOMALY.with_suffix(".yaml").read_text())
    assert card["sha256"] == sha256(DEFAULT_ANOMALY) and card["bytes"] == DEFAULT_ANOMALY.stat().st_size < 3e6
    assert card["metrics"]["val_spatial_rmse_k"] < card["metrics"]["val_flat_spatial_rmse_k"]


def test_shipped_network_follows_the_dem_by_day(shipped):
    """A hill on a uniform plain at 13 h local time: colder where higher (the lapse rate's sign)."""
    refl = np.full((12, 224, 224), 0.15, np.float32)
    refl[7] = 0.35
    dem = hill()
    mean = shipped.mean(refl, dem, np.array(["2023-07-01T13:00"], dtype="datetime64[m]"), 47.0, 0.0)[0]
    height = static_inputs(refl, dem)[13]
    assert float(mean.std()) > 0.02
    assert float(torch.corrcoef(torch.stack([mean.flatten(), -height.flatten()]))[0, 1]) > 0.5


def test_generated_field_carries_structure_that_follows_the_dem(shipped, data_dir):
    """`generate_tile` with the anomaly model: the field is tile mean + anomaly mean + residual, at 10 m, with
    within-tile spread; each member's anomaly is the regression's plus a residual of the fitted size; same seed,
    same field."""
    tiles = data_dir / "sentinel2" / "terramind-examples"
    tile = read_tile(tiles / "S2L2A" / "38D_378R_2_3.tif", tiles / "DEM" / "38D_378R_2_3.tif", boa_add_offset=0)
    torch.manual_seed(0)
    model = MultiModalTransformer(ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1))
    config = GenerationConfig(members=4, steps=2, seed=3)
    ds = generate_tile(model, untrained_tokenizers(), tile, tile.acquired, config=config, anomaly=shipped)
    field, within = ds["t2m"].values, ds["t2m_anomaly_mean"].values
    assert field.shape == (4, 224, 224) and ds["t2m"].attrs["units"] == "K" and within.shape == (224, 224)
    anomaly = field - field.mean(axis=(1, 2), keepdims=True)
    assert float(anomaly.std(axis=(1, 2)).min()) > 0.05
    np.testing.assert_allclose(field.mean(axis=(1, 2)), ds["t2m_hourly"].values[:, int(str(tile.acquired)[11:13])], atol=1e-3)
    residual = anomaly - within  # each member's draw: sd as fitted (bilinear onto the pixels smooths it a little)
    assert 0.6 * shipped.noise.sd_k < float(residual.std(axis=(1, 2)).min()) <= 1.05 * shipped.noise.sd_k
    dem = tile.dem - tile.dem.mean()
    assert np.corrcoef(within.ravel(), -dem.ravel())[0, 1] > 0.3
    again = generate_tile(model, untrained_tokenizers(), tile, tile.acquired, config=config, anomaly=shipped)
    np.testing.assert_array_equal(again["t2m"].values, field)
