"""The data path (tiny benchmark world -> readers -> regression network -> tokenizers -> samples) and Lightning
training: a run ships a checkpoint and a model card naming its regression, and a second run resumes from the
first's state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from daily_support import tiny_world
from model_support import one_thread, quick_validation, small_regression, untrained_tokenizers  # noqa: F401  (fixtures)
from tm_weather.errors import InputError
from tm_weather.model.data import ARRAYS, Samples, catalog_samples
from tm_weather.model.transformer import MODALITIES, load_model
from tm_weather.tokenizers.registry import sha256
from tm_weather.train import train
from tm_weather.world.build import CATALOG
from tm_weather.world.presets import PRESETS


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The session's tiny world (read only: training and the samples write into the run and out folders)."""
    return tiny_world(tmp_path_factory) / CATALOG


@pytest.fixture(scope="module")
def tokenizers():
    return untrained_tokenizers()


@pytest.fixture(scope="module")
def regression():
    """A small untrained regression network (its profiles are the climate or GFS plus a small learned level)."""
    return small_regression()


@pytest.fixture(scope="module")
def regression_path(regression, tmp_path_factory):
    path = tmp_path_factory.mktemp("regression") / "anomaly-demo.safetensors"
    regression.save(path, {"preset": "small"})
    return path


@pytest.fixture(scope="module")
def val_samples(world, tokenizers, regression):
    from tm_weather.catalog import load_catalog

    return catalog_samples(load_catalog(world), "val", tokenizers, regression)


def test_samples_from_the_world(world, tokenizers, regression, tmp_path):
    from tm_weather.catalog import load_catalog

    samples = catalog_samples(load_catalog(world), "train", tokenizers, regression)
    tiles, days = PRESETS["tiny"].locations["train"], 1  # the tiny world's train split is one day
    assert len(samples) == tiles * days * 24 and samples.tiles == ["tile00", "tile01"]
    for m in MODALITIES:
        tok = samples.tokens[m.name]
        assert tok.shape == (len(samples), m.length) and int(tok.min()) >= 0 and int(tok.max()) < m.vocab
        assert bool(samples.present[m.name].all()), m.name  # the world has every modality, GFS included
    assert 230 < float(samples.truth.min()) and float(samples.truth.max()) < 320
    rows = torch.arange(len(samples))
    torch.testing.assert_close(samples.profile[rows, samples.hour], samples.truth.mean(dim=(1, 2)), atol=1e-3, rtol=0)
    assert float((samples.gfs - samples.profile).mean().abs()) < 5  # GFS and truth describe the same weather
    assert samples.lead.shape == samples.base.shape == samples.base_clim.shape == (len(samples), 24)
    assert samples.lead[0].tolist() == list(range(6)) * 4  # the latest of the 00/06/12/18Z runs each hour
    assert bool(torch.isfinite(samples.base).all()) and bool(torch.isfinite(samples.base_clim).all())
    assert 230 < float(samples.base_clim.min()) and float(samples.base_clim.max()) < 320
    assert len(set(samples.tokens["time"][:, 0].tolist())) == 24  # every hour of day
    samples.save(tmp_path / "s.safetensors")
    again = Samples.load(tmp_path / "s.safetensors")
    assert torch.equal(again.tokens["t2m_field"], samples.tokens["t2m_field"]) and again.tiles == samples.tiles
    assert all(torch.equal(getattr(again, k), getattr(samples, k)) for k in ARRAYS)
    picked = samples.select(torch.tensor([3, 0]))
    assert len(picked) == 2 and torch.equal(picked.base[0], samples.base[3]) and torch.equal(picked.lead[1], samples.lead[0])


@pytest.mark.usefixtures("quick_validation")
def test_train_ships_a_card_and_resumes(world, tokenizers, regression_path, tmp_path):
    run, out = tmp_path / "run", tmp_path / "ck"
    path = train("demo", world, out, run, tokenizers=tokenizers, progress=lambda _: None, steps=4,
                 regression=regression_path)
    card = yaml.safe_load((out / "transformer-demo.yaml").read_text())
    assert card["sha256"] == sha256(path) and card["train"]["steps"] == 4
    assert card["command"].startswith("tm-weather train --preset demo --catalog") and "--steps 4" in card["command"]
    metrics = card["metrics"]
    assert {"val/t2m_field", "val/t2m_residual", "val/t2m_residual_clim"} <= set(metrics)
    assert 0 < metrics["val/profile_rmse_gfs_k"] < 50 and 0 < metrics["val/profile_rmse_clim_k"] < 50
    assert "val/field_rmse_k" not in metrics
    trained_with = {"checkpoint": regression_path.name, "sha256": sha256(regression_path)}
    assert card["regression"] == trained_with
    model, meta = load_model(path)
    assert meta["preset"] == "demo" and model.num_parameters() == card["parameters"]
    assert yaml.safe_load(meta["regression"]) == trained_with and yaml.safe_load(meta["tokenizers"]) == card["tokenizers"]
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 4
    assert len(list(run.glob("samples-*.safetensors"))) == 2  # train and val, keyed by the regression too

    train("demo", world, out, run, tokenizers=tokenizers, progress=lambda _: None, steps=6, regression=regression_path)
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 6  # resumed: 2 more steps, not 6
    assert yaml.safe_load((out / "transformer-demo.yaml").read_text())["sha256"] != card["sha256"]

    train("demo", world, out, run, tokenizers=tokenizers, progress=lambda _: None, steps=6, regression=regression_path)
    finished = yaml.safe_load((out / "transformer-demo.yaml").read_text())  # nothing left to fit: validated anew
    assert set(finished["metrics"]) == set(metrics) and finished["train"]["steps"] == 6


def test_train_needs_the_regression_checkpoint(world, tokenizers, tmp_path):
    with pytest.raises(InputError, match="regression checkpoint") as e:
        train("demo", world, tmp_path / "ck", tmp_path / "run", tokenizers=tokenizers, progress=lambda _: None, steps=4)
    assert "anomaly-demo.safetensors" in str(e.value)  # the default: out/anomaly-<preset>.safetensors


def test_residual_tokens_encode_profile_minus_the_regression(world, tokenizers, regression, val_samples):
    """`t2m_residual`: the profile minus the regression's profile given GFS; `t2m_residual_clim`: minus the one
    without GFS; the bases are the regression's profiles of each tile and day."""
    from tm_weather.catalog import load_catalog
    from tm_weather.sources import open_source
    from tm_weather.tiles import gfs_series, read_tile

    samples = val_samples
    want = tokenizers.encode("t2m_residual", (samples.profile - samples.base)[:, None])
    assert torch.equal(samples.tokens["t2m_residual"], want)
    want = tokenizers.encode("t2m_residual", (samples.profile - samples.base_clim)[:, None])
    assert torch.equal(samples.tokens["t2m_residual_clim"], want)
    assert bool(samples.present["t2m_residual"].all()) and bool(samples.present["t2m_residual_clim"].all())

    catalog = load_catalog(world)
    entry = next(t for t in catalog.tiles if t.name == samples.tiles[int(samples.tile[0])])
    tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), catalog.path(entry.lulc), name=entry.name)
    day = np.datetime64(int(samples.valid[0]), "h").astype("datetime64[D]")
    hours = day.astype("datetime64[ns]") + np.arange(24) * np.timedelta64(1, "h")
    gfs = gfs_series(open_source("gfs", catalog.sources["gfs"], catalog), {}, day, tile)
    np.testing.assert_allclose(samples.gfs[0], gfs.values, atol=1e-4)
    np.testing.assert_array_equal(samples.lead[0], gfs.lead)
    torch.testing.assert_close(samples.base[0], regression.profile(tile, hours, gfs), atol=1e-3, rtol=0)
    torch.testing.assert_close(samples.base_clim[0], regression.profile(tile, hours), atol=1e-3, rtol=0)


def test_samples_without_gfs_keep_only_the_climate_residual(world, tokenizers, regression, tmp_path):
    """A catalog without a GFS source: no gfs or t2m_residual tokens, NaN GFS and base, but the climate residual."""
    import shutil

    from tm_weather.catalog import load_catalog

    folder = tmp_path / "nogfs"
    shutil.copytree(world.parent, folder, ignore=shutil.ignore_patterns("cache", "store"))
    config = yaml.safe_load(world.read_text())
    del config["sources"]["gfs"]
    (folder / world.name).write_text(yaml.safe_dump(config))
    samples = catalog_samples(load_catalog(folder / world.name), "val", tokenizers, regression)
    assert not bool(samples.present["gfs"].any()) and not bool(samples.present["t2m_residual"].any())
    assert bool(samples.present["t2m_residual_clim"].all())
    assert bool(torch.isnan(samples.gfs).all()) and bool(torch.isnan(samples.base).all())
    assert bool(torch.isfinite(samples.base_clim).all())


def test_fine_tune_changes_a_copy_only(tokenizers, val_samples):
    from tm_weather.model.transformer import ModelConfig, MultiModalTransformer
    from tm_weather.train import fine_tune

    samples = val_samples
    torch.manual_seed(0)
    model = MultiModalTransformer(ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = fine_tune(model, samples, tokenizers, steps=3, lr=1e-2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the original is untouched
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items()) and not tuned.training


def test_tokenizer_data_of_the_residual(world):
    from tm_weather.catalog import load_catalog
    from tm_weather.series import extract_points
    from tm_weather.sources import open_source
    from tm_weather.tiles import gfs_series, read_tile, truth_source
    from tm_weather.tokenizers.residual import residual_windows

    catalog = load_catalog(world)
    windows = residual_windows(catalog, "train")  # 2 tiles x 1 day of truth minus GFS at the tile centre
    assert windows.shape == (2, 1, 24) and np.isfinite(windows).all() and 0 < np.abs(windows).mean() < 5
    entry = catalog.tiles[0]  # the train split's first tile
    tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), name=entry.name)
    day = np.datetime64(catalog.splits["train"].start, "D")
    hours = day.astype("datetime64[ns]") + np.arange(24) * np.timedelta64(1, "h")
    truth = extract_points(truth_source(catalog, entry.name)(hours), [tile.lat], [tile.lon], [entry.name]).values[:, 0]
    gfs = gfs_series(open_source("gfs", catalog.sources["gfs"], catalog), {}, day, tile)
    np.testing.assert_allclose(windows[0, 0], truth - gfs.values, atol=1e-3)


def test_tokenizer_data_of_the_pattern(world):
    from tm_weather.catalog import load_catalog
    from tm_weather.tokenizers.pattern import pattern_fields

    catalog = load_catalog(world)
    fields = pattern_fields(catalog, "val")  # 1 tile x 1 day x 4 hours
    assert fields.shape == (4, 1, 224, 224)
    torch.testing.assert_close(fields.mean(dim=(-2, -1)), torch.zeros(4, 1), atol=1e-4, rtol=0)
    assert 0 < float(fields.std()) < 2  # a tile's own variation: tenths of a kelvin
