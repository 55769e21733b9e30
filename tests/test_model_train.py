"""The data path (tiny benchmark world -> readers -> tokenizers -> samples) and Lightning training: a run ships a
checkpoint and a model card, and a second run resumes from the first's state."""

from __future__ import annotations

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
    tiles, days = PRESETS["tiny"].tiles["train"], sum(n for *_, n in PRESETS["tiny"].episodes["train"])
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
