"""The regression network (`tm_weather.model.anomaly`): shapes and units, determinism, the tile level on its base
(GFS, or ERA5's climate without it), a tiny fit on the tiny world (resumed after an interruption to the same
weights), and the shipped regression (the one the shipped transformer names): structure inside the tile that
follows the DEM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from model_support import SHIPPED_CHECKPOINT, needs_shipped_regression, one_thread, shipped_regression  # noqa: F401  (fixture)
from tm_weather.catalog import load_catalog
from daily_support import tiny_world
from tm_weather.climatology import packaged
from tm_weather.model import anomaly_train
from tm_weather.errors import InputError
from tm_weather.lapse import LAPSE_RATE_K_PER_M
from tm_weather.model.anomaly import (DEM_CHANNEL, DEM_SCALE_M, ERROR_SPAN, LEVEL_FEATURES, STATIC_CHANNELS, TIME_FEATURES, AnomalyConfig,
                                      AnomalyModel, AnomalyNet, Place, ResidualNoise, daylight, gfs_given, level_features,
                                      load_anomaly, static_inputs, time_features)
from tm_weather.tiles import read_tile
from tm_weather.world.build import CATALOG

SMALL = AnomalyConfig(width=8, basis=4, context=4, hidden=16)
#: The fit on the tiny world: a few steps, checkpoints every 10.
TINY_FIT = anomaly_train.FitConfig(steps=30, save_every=10, relief_steps=8)


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
    height = x[DEM_CHANNEL]  # hm, tile mean removed
    assert abs(float(height.mean())) < 1e-5 and 0.5 < float(height.max() - height.min()) < 1.2
    assert float(x[DEM_CHANNEL + 1].min()) == 1.0 and float(static_inputs(refl, None)[DEM_CHANNEL:].abs().max()) == 0.0
    t = time_features(np.array(["2023-06-21T12:00", "2023-06-21T00:00"], dtype="datetime64[m]"), lat=-45.0, lon=90.0)
    assert t.shape == (2, TIME_FEATURES) and float(t.abs().max()) <= 1.0
    # 12 UTC at 90 E is 18 h local solar time: sin(2 pi 18 / 24) = -1
    assert float(t[0, 0]) == pytest.approx(-1.0) and float(t[0, -1]) == pytest.approx(-0.5)


def test_network_shapes_level_plus_zero_mean_anomaly_and_deterministic():
    """Output = level(t) + an anomaly of zero tile mean, the lapse prior over the DEM plus a weighted sum of the tile's
    basis maps: the level features
    (the day's GFS, the climate) move the tile mean and reweight the maps (the size of the contrasts inside the
    tile), never the maps themselves."""
    torch.manual_seed(0)
    net = AnomalyNet(SMALL)
    static, times = torch.randn(2, STATIC_CHANNELS, 56, 56), torch.randn(2, 24, TIME_FEATURES)
    levels = torch.randn(2, 24, LEVEL_FEATURES)
    out = net(static, times, levels).detach()
    assert out.shape == (2, 24, 56, 56)
    other = net(static, times, levels + 1.0).detach()
    anomaly = lambda x: x - x.mean((-2, -1), keepdim=True)  # noqa: E731
    assert float((other - out).mean((-2, -1)).abs().max()) > 1e-4  # the level: moved
    assert float((anomaly(other) - anomaly(out)).abs().max()) > 1e-4  # the contrasts: reweighted
    maps = net.basis(static)[0].detach().flatten(2).transpose(1, 2)  # (b, cells, K): the tile's basis maps
    lapse = LAPSE_RATE_K_PER_M * DEM_SCALE_M * anomaly(static[:, None, DEM_CHANNEL])  # (b, 1, h, w) K: the prior
    for field in (out, other):
        target = anomaly(field - lapse).flatten(2).transpose(1, 2)  # (b, cells, t)
        fit = maps @ torch.linalg.lstsq(maps, target).solution
        torch.testing.assert_close(fit, target, atol=1e-4, rtol=0)  # in the maps' span, whatever the levels
    torch.manual_seed(0)
    torch.testing.assert_close(AnomalyNet(SMALL)(static, times, levels), out, rtol=0, atol=0)


HOURS = np.datetime64("2023-07-01T00:00", "ns") + np.arange(24) * np.timedelta64(1, "h")


def test_place_is_the_climate_at_the_tile():
    clim = packaged()
    place = Place.at(47.0, 11.0, HOURS, hill())
    np.testing.assert_allclose(place.clim, clim(47.0, 11.0, HOURS), atol=1e-3)
    months = clim.months(47.0, 11.0)
    assert months.shape == (12,) and place.annual_range_k == pytest.approx(float(months.max() - months.min()))
    assert 10 < place.annual_range_k < 30  # the Alps' foreland: cold winters, warm summers
    assert float(months[6]) > float(months[0]) + 10  # July warmer than January in the north
    assert place.height_m == pytest.approx(float(hill().mean())) and Place.at(47.0, 11.0, HOURS, None).height_m is None


def test_level_features_with_and_without_gfs():
    """Without GFS the base is the climate and the GFS features are 0; with GFS the base is GFS, its features set."""
    place = Place.at(47.0, 11.0, HOURS, hill())
    features, base = level_features(place, None, None)
    assert features.shape == (24, LEVEL_FEATURES) and base.shape == (24,)
    torch.testing.assert_close(base, torch.from_numpy(place.clim))
    assert float(features[:, :4].abs().max()) == 0.0  # has-GFS, its shape, its departure, its lead
    torch.testing.assert_close(features[:, 4], (base - 273.15) / 20.0)
    torch.testing.assert_close(features[:, 5], torch.full((24,), place.annual_range_k / 20.0))
    torch.testing.assert_close(features[:, 6], torch.full((24,), float(hill().mean()) / 1000.0))

    gfs = (place.clim.mean() + 3.0 + 4.0 * np.sin(np.arange(24) / 24 * 2 * np.pi)).astype(np.float32)
    lead = np.tile(np.arange(6), 4)
    with_gfs, base = level_features(place, gfs, lead)
    torch.testing.assert_close(base, torch.from_numpy(gfs))
    assert bool((with_gfs[:, 0] == 1).all())
    torch.testing.assert_close(with_gfs[:, 1], torch.from_numpy((gfs - gfs.mean()) / 5.0))
    torch.testing.assert_close(with_gfs[:, 2], torch.full((24,), 3.0 / 5.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(with_gfs[:, 3], torch.from_numpy(lead / 12.0).float())
    torch.testing.assert_close(with_gfs[:, 4:], features[:, 4:])  # the place's features: the same either way
    no_dem, _ = level_features(Place.at(47.0, 11.0, HOURS, None), None, None)
    assert float(no_dem[:, 6].abs().max()) == 0.0


def test_mean_is_its_base_plus_the_network():
    """`AnomalyModel.mean`: absolute kelvin, the network's output on the base (GFS or the climate); its profile
    the tile mean of that."""
    torch.manual_seed(0)
    model = AnomalyModel(AnomalyNet(SMALL).eval(), ResidualNoise(80.0))
    refl = np.full((12, 224, 224), 0.15, np.float32)
    refl[7] = 0.35
    dem = hill()
    place = Place.at(47.0, 11.0, HOURS, dem)
    gfs = (place.clim + 6.0).astype(np.float32)
    lead = np.tile(np.arange(6), 4)
    clim = model.mean(refl, dem, HOURS, 47.0, 11.0)
    given = model.mean(refl, dem, HOURS, 47.0, 11.0, gfs, lead)
    assert clim.shape == given.shape == (24, 56, 56)
    levels, base = level_features(place, None, None)
    net = model.net(static_inputs(refl, dem)[None], time_features(HOURS, 47.0, 11.0)[None], levels[None])[0].detach()
    torch.testing.assert_close(clim, net + base[:, None, None])
    assert 250 < float(clim.mean()) < 320 and float((given - clim).mean()) > 3  # GFS 6 K above the climate
    from types import SimpleNamespace

    tile = SimpleNamespace(reflectance=refl, dem=dem, lat=47.0, lon=11.0)
    torch.testing.assert_close(model.profile(tile, HOURS), clim.mean((1, 2)))
    from tm_weather.tiles import GFSInput

    torch.testing.assert_close(model.profile(tile, HOURS, GFSInput(gfs, lead)), given.mean((1, 2)))


def test_draws_are_the_mean_anomaly_plus_noise_on_the_pixels():
    torch.manual_seed(0)
    model = AnomalyModel(AnomalyNet(SMALL).eval(), ResidualNoise(80.0))
    mean = 280.0 + torch.randn(56, 56)
    anomaly, draws = model.draws(mean, 0.3, (224, 224), 10.0, 3, seed=5)
    assert anomaly.shape == (224, 224) and draws.shape == (3, 224, 224)
    assert abs(float(anomaly.mean())) < 1e-4 and float(draws.mean((1, 2)).abs().max()) < 1e-4  # zero tile mean
    noise = draws - anomaly
    assert 0.6 * 0.3 < float(noise.std((1, 2)).min()) <= 1.05 * 0.3
    _, again = model.draws(mean, 0.3, (224, 224), 10.0, 3, seed=5)
    torch.testing.assert_close(again, draws, rtol=0, atol=0)
    torch.testing.assert_close(draws.mean(0), anomaly, rtol=0, atol=1e-5)  # noise centred: the members' mean is the mean
    _, one = model.draws(mean, 0.3, (224, 224), 10.0, 1, seed=5)
    assert float((one[0] - anomaly).std()) > 0.1  # one member keeps its noise


def test_residual_noise_fit_recovers_the_length_and_samples_the_sd():
    truth = ResidualNoise(length_m=80.0)
    sample = truth.sample(np.random.default_rng(0), 64, (56, 56), 40.0, 0.3)
    assert float(sample.std()) == pytest.approx(0.3, rel=1e-3)
    assert ResidualNoise.fit(sample, 40.0).length_m == pytest.approx(80.0, rel=0.15)
    a = truth.sample(np.random.default_rng(1), 2, (56, 56), 40.0, 0.3)
    np.testing.assert_array_equal(a, truth.sample(np.random.default_rng(1), 2, (56, 56), 40.0, 0.3))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The session's tiny world (seed 0; read only) and its catalog path."""
    return tiny_world(tmp_path_factory) / CATALOG


def test_tiny_fit_from_a_catalog_writes_a_card_and_resumes_to_the_same_weights(tiny, tmp_path, monkeypatch):
    path = anomaly_train.train_anomaly(tiny, "tiny", TINY_FIT, out=tmp_path / "ck", run_dir=tmp_path / "run", progress=False)
    card = yaml.safe_load(path.with_suffix(".yaml").read_text())
    model = load_anomaly(path)
    assert card["bytes"] == path.stat().st_size < 2e6 and card["data"]["train_tile_days"] > 0
    assert card["metrics"]["val_spatial_rmse_k"] > 0 and card["fit"]["cpu_seconds"] > 0
    assert card["fit"]["gfs_dropout"] == pytest.approx(0.3) and card["sha256"] == model.sha256
    levels = ("val_level_rmse_with_gfs_k", "val_level_rmse_gfs_input_k", "val_level_rmse_without_gfs_k",
              "val_level_rmse_climatology_k")
    assert all(0 < card["metrics"][k] < 30 for k in levels), card["metrics"]  # the tiny world's val has GFS
    assert model.noise.length_m > 0 and card["data"]["held_out_train_tile_days (error model)"] > 0
    # the error model is fitted and calibrated on the held-out tiles' errors: its RMS sd is their RMS error there,
    # with GFS and without (the card rounds to 4 digits)
    for key in ("level_sd_over_rmse", "cell_sd_over_rmse"):
        for kind in ("with", "without"):
            assert card["metrics"][f"held_out_train_{key}_{kind}_gfs"] == pytest.approx(1.0, abs=2e-4), card["metrics"]
        assert card["metrics"][f"val_{key}_without_gfs"] > 0

    catalog = load_catalog(tiny)
    train = anomaly_train.anomaly_data(catalog, "train")
    n = len(train)
    assert train.truth.shape == (n, 24, 56, 56) and train.cell_m == pytest.approx(40.0)
    assert 230 < float(train.truth.nanmean()) < 320  # absolute kelvin, not an anomaly
    assert train.gfs.shape == train.lead.shape == (n, 24) and bool(torch.isfinite(train.gfs).all())
    assert float((train.gfs.mean(1) - train.truth.nanmean((1, 2, 3))).abs().max()) < 5  # GFS: the same weather
    assert train.lead.tolist()[0] == list(range(6)) * 4 and len(train.places) == n
    levels, base = train.levels(torch.arange(n), torch.tensor([True] + [False] * (n - 1)))
    torch.testing.assert_close(base[0], train.gfs[0])  # GFS where asked for and there
    torch.testing.assert_close(base[1:], torch.from_numpy(np.stack([p.clim for p in train.places[1:]])))
    assert bool((levels[0, :, 0] == 1).all()) and float(levels[1:, :, :4].abs().max()) == 0
    config = replace(TINY_FIT, steps=12, save_every=4, model=SMALL)
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

    # the gradient clip: below it the gradients are untouched, bit for bit; at it every step is scaled down
    unclipped = anomaly_train.fit(train, replace(config, clip_norm=float("inf")), progress=False)
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(unclipped.state_dict()[k], v, rtol=0, atol=0)
    torch.manual_seed(config.seed)
    start = AnomalyNet(config.model).state_dict()
    clipped = anomaly_train.fit(train, replace(config, clip_norm=1e-12), progress=False).state_dict()

    def moved(state):
        return max(float((state[k] - v).abs().max()) for k, v in start.items() if v.is_floating_point()
                   and not k.startswith("error.") and k not in ("shift", "scale"))

    assert moved(clipped) < 1e-2 * moved(whole.state_dict())


def test_train_command_fits_the_anomaly_network_on_a_catalog(tiny, tmp_path, capsys):
    from tm_weather.cli import main

    args = ["train", "--preset", "demo", "--part", "anomaly", "--catalog", str(tiny), "--steps", "4",
            "--out", str(tmp_path), "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0 and "anomaly-demo.safetensors" in capsys.readouterr().out
    card = yaml.safe_load((tmp_path / "anomaly-demo.yaml").read_text())
    assert card["fit"]["steps"] == 4 and card["data"]["catalog"] == str(tiny)
    assert load_anomaly(tmp_path / "anomaly-demo.safetensors").net.config == AnomalyConfig()
    assert (tmp_path / "run" / "regression" / "anomaly-last.pt").is_file()  # --run-dir: one subfolder per part
    assert not (tmp_path / "transformer-demo.safetensors").exists()  # --part anomaly only


@pytest.fixture(scope="module")
def shipped():
    """The regression network the shipped transformer (`checkpoints/transformer-full.safetensors`) names, beside it."""
    trained = shipped_regression()
    return trained, load_anomaly(SHIPPED_CHECKPOINT.parent / trained["checkpoint"])


@needs_shipped_regression
def test_shipped_card_matches(shipped):
    from tm_weather.tokenizers.registry import sha256

    trained, model = shipped
    path = SHIPPED_CHECKPOINT.parent / trained["checkpoint"]
    card = yaml.safe_load(path.with_suffix(".yaml").read_text())
    assert card["sha256"] == sha256(path) == trained["sha256"] == model.sha256
    assert card["bytes"] == path.stat().st_size < 3e6
    metrics = card["metrics"]
    assert metrics["val_spatial_rmse_k"] < metrics["val_flat_spatial_rmse_k"]
    assert metrics["val_level_rmse_with_gfs_k"] < metrics["val_level_rmse_gfs_input_k"]  # it improves on GFS
    assert metrics["val_level_rmse_without_gfs_k"] < metrics["val_level_rmse_climatology_k"]  # and on the climate


@needs_shipped_regression
def test_shipped_network_follows_the_dem_by_day(shipped):
    """A hill on a uniform plain at 13 h local time: colder where higher (the lapse rate's sign)."""
    _, model = shipped
    refl = np.full((12, 224, 224), 0.15, np.float32)
    refl[7] = 0.35
    dem = hill()
    mean = model.mean(refl, dem, np.array(["2023-07-01T13:00"], dtype="datetime64[m]"), 47.0, 0.0)[0]
    anomaly = mean - mean.mean()
    height = static_inputs(refl, dem)[DEM_CHANNEL]
    assert float(anomaly.std()) > 0.02
    assert float(torch.corrcoef(torch.stack([anomaly.flatten(), -height.flatten()]))[0, 1]) > 0.5
    assert abs(float(mean.mean()) - float(packaged()(47.0, 0.0, np.datetime64("2023-07-01T13:00")))) < 8


@needs_shipped_regression
def test_shipped_regression_mean_follows_the_dem_on_a_real_tile(shipped, data_dir):
    tiles = data_dir / "sentinel2" / "terramind-examples"
    tile = read_tile(tiles / "S2L2A" / "38D_378R_2_3.tif", tiles / "DEM" / "38D_378R_2_3.tif", boa_add_offset=0)
    _, model = shipped
    out = model.predict(tile.reflectance, tile.dem, np.array([tile.acquired]), tile.lat, tile.lon)
    sd = float(out.cell_sd[0])
    within, draws = model.draws(out.mean[0], sd, (224, 224), abs(tile.grid.transform.a), 4, seed=3)
    dem = tile.dem - tile.dem.mean()
    assert np.corrcoef(within.numpy().ravel(), -dem.ravel())[0, 1] > 0.3
    residual = (draws - within).numpy()
    assert 0.05 < sd < 3 and 0.05 < float(out.level_sd[0]) < 5
    assert 0.6 * sd < float(residual.std(axis=(1, 2)).min()) <= 1.05 * sd


def test_holdout_keeps_whole_tiles_out_of_the_fit():
    """The error model's tiles: a share of the tile names, every day of each, none in the mean's fit; seeded."""
    n = 30
    names = [f"tile{i % 10}" for i in range(n)]
    data = anomaly_train.AnomalyData(torch.zeros(n, 15, 2, 2), torch.zeros(n, 24, 9), torch.zeros(n, 24, 2, 2),
                                     [None] * n, torch.zeros(n, 24), torch.zeros(n, 24), names,
                                     np.array(["2023-01-01"] * n, dtype="datetime64[D]"), 40.0)
    fit_part, held = anomaly_train.holdout(data, 0.2, seed=0)
    assert len(set(held.tile)) == 2 and len(held) == 6 and len(fit_part) == 24
    assert not set(held.tile) & set(fit_part.tile)
    assert anomaly_train.holdout(data, 0.2, seed=0)[1].tile == held.tile
    one = data.subset(np.arange(3))
    single = anomaly_train.AnomalyData(one.static, one.times, one.truth, one.places, one.gfs, one.lead,
                                       ["a"] * 3, one.day, 40.0)
    assert anomaly_train.holdout(single, 0.2, seed=0)[0] is single  # one tile: nothing to hold out


def test_fit_loss_is_the_level_error_plus_the_weighted_within_tile_error():
    """At weight 1 the loss is the field's mean squared error; the weight scales only the within-tile part, and a
    map with no finite target adds nothing (NaN targets are left out of both parts)."""
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 4, generator=gen), torch.randn(2, 3, 4, 4, generator=gen)
    assert float(anomaly_train.fit_loss(pred, target, 1.0)) == pytest.approx(float(((pred - target) ** 2).mean()), rel=1e-6)
    shift = pred + torch.randn(2, 3, 1, 1, generator=gen)  # moves each map's level only
    level_only = anomaly_train.fit_loss(shift, target, 7.0) - anomaly_train.fit_loss(pred, target, 7.0)
    assert float(level_only) == pytest.approx(float(anomaly_train.fit_loss(shift, target, 0.0)
                                                    - anomaly_train.fit_loss(pred, target, 0.0)), rel=1e-5)
    within = ((pred - pred.mean((-2, -1), keepdim=True) - target + target.mean((-2, -1), keepdim=True)) ** 2).mean()
    assert float(anomaly_train.fit_loss(pred, target, 3.0) - anomaly_train.fit_loss(pred, target, 1.0)) == \
        pytest.approx(2 * float(within), rel=1e-5)
    holed = target.clone()
    holed[0, 0] = float("nan")  # a map without truth
    holed[1, 2, 0, :2] = float("nan")  # two missing cells
    maps = [(i, j) for i in range(2) for j in range(3) if (i, j) != (0, 0)]
    level, within = [], []
    for i, j in maps:
        ok = torch.isfinite(holed[i, j])
        p, t = pred[i, j] - pred[i, j].mean(), holed[i, j][ok].mean()
        level.append(float(pred[i, j].mean() - t) ** 2)
        within.append((p[ok] - (holed[i, j][ok] - t)) ** 2)
    expected = np.mean(level) + 2.0 * float(torch.cat(within).mean())
    assert float(anomaly_train.fit_loss(pred, holed, 2.0)) == pytest.approx(expected, rel=1e-5)

def test_error_model_centres_with_and_without_gfs_and_old_checkpoints_are_refused(tmp_path):
    """The error model's sds are centred on one row of `error_centre` per hour, by the hour's GFS flag; a
    checkpoint whose tensors have another shape (one centre for both, from before) is refused, naming it."""
    from tm_weather.checkpoint_io import read_safetensors, save_safetensors

    torch.manual_seed(0)
    net = AnomalyNet(SMALL).eval()
    with torch.no_grad():
        net.error_centre.copy_(torch.tensor([[0.0, 0.0], [-1.0, -2.0]]))
    levels = torch.stack([level_features(Place(np.full(2, 280.0, np.float32), 20.0, None), gfs, lead)[0]
                          for gfs, lead in ((None, None), (np.array([281.0, 282.0]), np.array([3.0, 4.0])))])
    x = AnomalyNet.hourly_inputs(torch.zeros(2, 2, TIME_FEATURES), torch.zeros(2, SMALL.context), levels)
    assert gfs_given(x).tolist() == [[False, False], [True, True]]
    free = (net.log_sd(x) - net.error_centre[gfs_given(x).long()]).abs()
    assert bool((free <= ERROR_SPAN + 1e-6).all())
    path = tmp_path / "old.safetensors"
    AnomalyModel(net, ResidualNoise(100.0)).save(path)
    tensors, meta = read_safetensors(path, "test")
    save_safetensors({**tensors, "error_centre": tensors["error_centre"][0].contiguous()}, path, meta)
    with pytest.raises(InputError, match="old.safetensors.*error_centre \\(2,\\)"):
        load_anomaly(path)


def test_anomaly_is_learned_on_the_lapse_rate_and_older_checkpoints_are_refused(tmp_path):
    """A network whose maps carry no weight (a fit that learned nothing) still draws a 120 m hill 0.78 K cooler at
    its top than on the plain: the anomaly is learned on the standard atmosphere's lapse rate; without a DEM it is
    flat. A checkpoint without the prior in its metadata (learned before it) is refused, naming the file."""
    from tm_weather.checkpoint_io import read_safetensors, save_safetensors

    torch.manual_seed(0)
    net = AnomalyNet(SMALL).eval()
    with torch.no_grad():
        net.weights[-1].weight.zero_()
        net.weights[-1].bias.zero_()
    refl = np.full((12, 224, 224), 0.15, np.float32)
    times, levels = torch.zeros(1, 1, TIME_FEATURES), torch.zeros(1, 1, LEVEL_FEATURES)
    field = net(static_inputs(refl, hill())[None], times, levels).detach()[0, 0]
    assert float(field[28, 28] - field[0, 0]) == pytest.approx(LAPSE_RATE_K_PER_M * 120.0, abs=0.02)
    flat = net(static_inputs(refl, None)[None], times, levels).detach()[0, 0]
    assert float(flat.max() - flat.min()) < 1e-6
    path = tmp_path / "before.safetensors"
    AnomalyModel(net, ResidualNoise(100.0)).save(path)
    assert float(load_anomaly(path).net(static_inputs(refl, hill())[None], times, levels)[0, 0, 28, 28]) == \
        pytest.approx(float(field[28, 28]), abs=1e-3)
    tensors, meta = read_safetensors(path, "test")
    save_safetensors(tensors, path, {k: v for k, v in meta.items() if k != "lapse_rate_k_per_m"})
    with pytest.raises(InputError, match="before.safetensors.*lapse_rate_k_per_m"):
        load_anomaly(path)


def test_error_model_calibrated_without_gfs_when_a_catalog_has_none():
    """A catalog without GFS: the error model's row without GFS is calibrated on the held-out errors (predicted RMS
    sd = actual RMS error), and the row with GFS, which no hour of it uses, stays finite (the pooled errors)."""
    torch.manual_seed(0)
    n = 4
    place = Place(np.full(24, 280.0, np.float32), 20.0, None)
    truth = 280.0 + 2.0 * torch.randn(n, 24, 16, 16)
    held = anomaly_train.AnomalyData(torch.randn(n, STATIC_CHANNELS, 16, 16), torch.randn(n, 24, TIME_FEATURES), truth,
                                     [place] * n, torch.full((n, 24), torch.nan), torch.zeros(n, 24), ["a"] * n,
                                     np.array(["2023-01-01"] * n, dtype="datetime64[D]"), 40.0)
    net = anomaly_train.fit_error(AnomalyNet(SMALL), held, replace(TINY_FIT, error_steps=20))
    assert bool(torch.isfinite(net.error_centre).all())
    for with_gfs in (True, False):  # no day has GFS: both are the errors without it
        ratios = anomaly_train.spread_ratios(net, held, with_gfs)
        assert ratios == pytest.approx({"level_sd_over_rmse": 1.0, "cell_sd_over_rmse": 1.0}, abs=1e-4)


def random_days(n: int, size: int = 16, seed: int = 0) -> anomaly_train.AnomalyData:
    """`n` tile-days of random inputs with a DEM and truth around 280 K, with GFS."""
    gen = torch.Generator().manual_seed(seed)
    static = torch.randn(n, STATIC_CHANNELS, size, size, generator=gen)
    static[:, DEM_CHANNEL + 1] = 1.0  # a DEM everywhere
    place = Place(np.full(24, 280.0, np.float32), 20.0, 500.0)
    hours = np.datetime64("2023-07-01T00:00") + np.arange(24) * np.timedelta64(1, "h")
    return anomaly_train.AnomalyData(static, time_features(hours, 47.0, 0.0).expand(n, -1, -1).clone(),
                                     280.0 + torch.randn(n, 24, size, size, generator=gen), [place] * n,
                                     280.0 + torch.randn(n, 24, generator=gen), torch.zeros(n, 24), ["a"] * n,
                                     np.array(["2023-01-01"] * n, dtype="datetime64[D]"), 40.0)


def test_random_relief_is_smooth_zero_mean_and_within_the_drawn_heights():
    relief = anomaly_train.random_relief(64, (56, 56), torch.Generator().manual_seed(0))
    assert relief.shape == (64, 56, 56)
    assert float(relief.mean((-2, -1)).abs().max()) < 1e-5
    sd = relief.std((-2, -1))
    lo, hi = anomaly_train.RELIEF_SD_HM
    assert float(sd.min()) >= lo * 0.999 and float(sd.max()) <= hi * 1.001 and float(sd.max() - sd.min()) > 0.5 * (hi - lo)
    step = (relief[:, 1:] - relief[:, :-1]).std((-2, -1)) / sd  # smooth: neighbours differ by less than the sd
    assert float(step.max()) < 1.0
    again = anomaly_train.random_relief(64, (56, 56), torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, relief, rtol=0, atol=0)


def test_relief_departure_is_zero_for_a_network_that_draws_relief_by_the_lapse_rate():
    """With the hourly weights zeroed the anomaly is the lapse rate over the DEM: added relief is drawn exactly by it;
    a network with weights on its basis maps departs from it."""
    data = random_days(3)
    levels, _ = data.levels(torch.arange(3), torch.ones(3, dtype=torch.bool))
    relief = anomaly_train.random_relief(3, (16, 16), torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    net = AnomalyNet(SMALL).eval()
    with torch.no_grad():
        assert float(anomaly_train.relief_departure(net, data.static, data.times, levels, relief).abs().max()) > 1e-3
        net.weights[-1].weight.zero_()
        net.weights[-1].bias.zero_()
        assert float(anomaly_train.relief_departure(net, data.static, data.times, levels, relief).abs().max()) < 1e-5


def test_relief_stage_trains_only_the_weights_and_leaves_the_tile_level(tmp_path, monkeypatch):
    """The relief stage moves only the hourly weights of the basis maps, so each tile-hour's level (the profile the
    transformer's residuals are taken from) stays as the mean's fit left it; it lowers the departure from the lapse
    rate while the sun is up (weighted by `daylight`, as in the stage's loss) far below the same stage without the
    prior; interrupted, it resumes to the same
    weights."""
    data = random_days(6)
    config = replace(TINY_FIT, model=SMALL, dem_dropout=0.0, relief_steps=40, relief_lr=1e-2, relief_weight=100.0,
                     save_every=10)
    torch.manual_seed(0)
    net = AnomalyNet(SMALL)
    net.standardise(data.static)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    levels, _ = data.levels(torch.arange(6), torch.ones(6, dtype=torch.bool))
    relief = anomaly_train.random_relief(6, (16, 16), torch.Generator().manual_seed(5))

    def departure(n):
        with torch.no_grad():
            d = anomaly_train.relief_departure(n.eval(), data.static, data.times, levels, relief)
            return float((daylight(data.times)[..., None, None] * d.pow(2)).mean())

    start = departure(net)
    with torch.no_grad():
        level_before = net(data.static, data.times, levels).mean((-2, -1))
    after = anomaly_train.fit_relief(net, data, config, progress=False)
    with torch.no_grad():
        torch.testing.assert_close(after(data.static, data.times, levels).mean((-2, -1)), level_before, rtol=0, atol=1e-4)
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("weights.") for k in changed), changed
    assert all(p.requires_grad for p in after.parameters())  # the error model is fitted next
    control = AnomalyNet(SMALL)  # the same stage without the prior: the data alone
    control.load_state_dict(before)
    control = anomaly_train.fit_relief(control, data, replace(config, relief_weight=0.0), progress=False)
    assert departure(after) < min(start, 0.25 * departure(control))

    torch.manual_seed(0)
    whole = AnomalyNet(SMALL)
    whole.load_state_dict(before)
    whole = anomaly_train.fit_relief(whole, data, config, progress=False)
    calls = {"n": 0}
    real = anomaly_train.relief_departure

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 17:
            raise KeyboardInterrupt
        return real(*args)

    state = tmp_path / "relief.pt"
    stopped = AnomalyNet(SMALL)
    stopped.load_state_dict(before)
    monkeypatch.setattr(anomaly_train, "relief_departure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        anomaly_train.fit_relief(stopped, data, config, state, progress=False)
    monkeypatch.setattr(anomaly_train, "relief_departure", real)
    resumed = AnomalyNet(SMALL)
    resumed.load_state_dict(before)
    resumed = anomaly_train.fit_relief(resumed, data, config, state, progress=False)
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=0)


@pytest.mark.parametrize("lat, lon, when, elevation_deg", [
    (47.0, 0.0, "2023-07-01T13:00", 63.3),  # 90 - 47 + 23.1 (declination on 1 July), an hour after noon
    (47.0, 0.0, "2023-12-21T12:00", 19.6),  # 90 - 47 - 23.4 at noon
    (0.0, 0.0, "2023-03-21T12:00", 90.0),
    (80.0, 0.0, "2023-06-21T00:00", 13.4),  # the midnight sun: 23.4 - (90 - 80)
    (-33.9, 151.2, "2023-01-01T02:00", 79.1),  # Sydney at local noon (UTC + 10 h 05 min): 90 - (33.9 - 23.0)
    (70.0, 0.0, "2023-12-21T12:00", None),  # the polar night: below the horizon at noon
    (47.0, 0.0, "2023-07-01T00:00", None),
])
def test_daylight_is_the_sine_of_the_suns_elevation(lat, lon, when, elevation_deg):
    value = float(daylight(time_features(np.array([when], dtype="datetime64[m]"), lat, lon))[0])
    expected = 0.0 if elevation_deg is None else np.sin(np.radians(elevation_deg))
    assert value == pytest.approx(expected, abs=0.03)
