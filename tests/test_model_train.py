"""The data path (tiny benchmark world -> readers -> tokenizers -> samples) and Lightning training: a run ships a
checkpoint and a model card, and a second run resumes from the first's state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from model_support import one_thread, untrained_tokenizers  # noqa: F401  (fixture)
from tm_weather.model.data import Samples, catalog_samples
from tm_weather.model.transformer import MODALITIES, load_model
from tm_weather.tokenizers.registry import sha256
from tm_weather.train import train
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    build_world(out, PRESETS["tiny"], 0)
    return out / CATALOG


@pytest.fixture(scope="module")
def tokenizers():
    return untrained_tokenizers()


def test_samples_from_the_world(world, tokenizers, tmp_path):
    from tm_weather.catalog import load_catalog

    samples = catalog_samples(load_catalog(world), "train", tokenizers)
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
    assert len(set(samples.tokens["time"][:, 0].tolist())) == 24  # every hour of day
    samples.save(tmp_path / "s.safetensors")
    again = Samples.load(tmp_path / "s.safetensors")
    assert torch.equal(again.tokens["t2m_field"], samples.tokens["t2m_field"]) and again.tiles == samples.tiles


def test_train_ships_a_card_and_resumes(world, tokenizers, tmp_path):
    run, out = tmp_path / "run", tmp_path / "ck"
    path = train("demo", world, out, run, tokenizers=tokenizers, progress=lambda _: None, steps=4)
    card = yaml.safe_load((out / "transformer-demo.yaml").read_text())
    assert card["sha256"] == sha256(path) and card["train"]["steps"] == 4
    assert card["command"].startswith("tm-weather train --preset demo --catalog") and "--steps 4" in card["command"]
    assert {"val/t2m_field", "val/field_rmse_k"} <= set(card["metrics"]) and card["metrics"]["val/field_rmse_k"] > 0
    model, meta = load_model(path)
    assert meta["preset"] == "demo" and model.num_parameters() == card["parameters"]
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 4

    train("demo", world, out, run, tokenizers=tokenizers, progress=lambda _: None, steps=6)
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 6  # resumed: 2 more steps, not 6
    assert yaml.safe_load((out / "transformer-demo.yaml").read_text())["sha256"] != card["sha256"]


def test_residual_tokens_encode_profile_minus_gfs(world, tokenizers):
    from tm_weather.catalog import load_catalog

    samples = catalog_samples(load_catalog(world), "val", tokenizers)
    want = tokenizers.encode("t2m_residual", (samples.profile - samples.gfs)[:, None])
    assert torch.equal(samples.tokens["t2m_residual"], want)


def test_gfs_series_is_lapse_corrected_to_the_tiles_mean_dem(world):
    """With a DEM: GFS at the centre - 6.5 K/km x (DEM mean - GFS orography at the centre); without: plain GFS."""
    from dataclasses import replace

    from tm_weather.catalog import load_catalog
    from tm_weather.series import extract_points
    from tm_weather.sources import open_source
    from tm_weather.tiles import gfs_day, gfs_runs, gfs_series, read_tile

    catalog = load_catalog(world)
    entry = catalog.tiles[0]
    tile = read_tile(catalog.path(entry.s2), catalog.path(entry.dem), name=entry.name)
    gfs = open_source("gfs", catalog.sources["gfs"], catalog)
    day = np.datetime64(catalog.splits["train"].start, "D")
    runs = gfs_runs(day)
    plain = gfs_day(gfs(runs), [tile.lat], [tile.lon], [tile.name])[0]
    height = float(extract_points(gfs.orography(runs[0]), [tile.lat], [tile.lon], ["c"]).values[0])
    assert abs(float(tile.dem.mean()) - height) > 1  # the test means something: the tile is off GFS's height
    np.testing.assert_allclose(gfs_series(gfs, {}, day, tile), plain - 0.0065 * (tile.dem.mean() - height), atol=1e-4)
    np.testing.assert_array_equal(gfs_series(gfs, {}, day, replace(tile, dem=None)), plain)


def test_fine_tune_changes_a_copy_only(world, tokenizers):
    from tm_weather.catalog import load_catalog
    from tm_weather.model.transformer import ModelConfig, MultiModalTransformer
    from tm_weather.train import fine_tune

    samples = catalog_samples(load_catalog(world), "val", tokenizers)
    torch.manual_seed(0)
    model = MultiModalTransformer(ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = fine_tune(model, samples, tokenizers, steps=3, lr=1e-2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the original is untouched
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items()) and not tuned.training


def test_tokenizer_data_of_the_residual_and_the_pattern(world):
    from tm_weather.catalog import load_catalog
    from tm_weather.tokenizers.pattern import pattern_fields
    from tm_weather.tokenizers.residual import residual_windows

    catalog = load_catalog(world)
    windows = residual_windows(catalog, "train")  # 2 tiles x 1 day of truth minus GFS at the tile centre
    assert windows.shape == (2, 1, 24) and np.isfinite(windows).all() and 0 < np.abs(windows).mean() < 5
    fields = pattern_fields(catalog, "val")  # 1 tile x 1 day x 4 hours
    assert fields.shape == (4, 1, 224, 224)
    torch.testing.assert_close(fields.mean(dim=(-2, -1)), torch.zeros(4, 1), atol=1e-4, rtol=0)
    assert 0 < float(fields.std()) < 2  # a tile's own variation: tenths of a kelvin
