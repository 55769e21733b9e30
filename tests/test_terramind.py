"""TerraMind itself (the `terramind` extra, docs/terramind.md): its S-2 L2A tokenizer and `terramind_v1_tiny` from
terratorch's registries with random weights, the weather modalities trained on its encoder through `tm-weather
train --backbone terramind-tiny`, the checkpoint reloaded without pickle, a T2M field generated; a local TerraMind
checkpoint loaded strictly through `--terramind-weights`.

Offline: `pretrained=False` everywhere, HF_HUB_OFFLINE=1 and no socket. Without terratorch these tests skip, unless
TM_WEATHER_REQUIRE_TERRAMIND is set (CI sets it: there they must run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from tm_weather.terramind.registry import EXTRA_HINT, available

#: A real tile (Parana coast, 2021-07-23 13:22Z; ../shared/data/PROVENANCE.md).
SHARED_S2 = Path(__file__).parents[1].parent / "shared/data/sentinel2/terramind-examples/S2L2A/282D_485L_3_3.tif"
REQUIRE = "TM_WEATHER_REQUIRE_TERRAMIND"


@pytest.fixture(scope="module")
def extra():
    """Skip without the extra; fail instead where `REQUIRE` is set (CI)."""
    if not available():
        message = f"terratorch is not installed ({EXTRA_HINT})"
        if os.environ.get(REQUIRE):
            pytest.fail(f"{message}, and {REQUIRE} is set: these tests must run here")
        pytest.skip(message)


@pytest.fixture
def offline(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from tm_weather.world.build import CATALOG, build_world
    from tm_weather.world.presets import PRESETS

    out = tmp_path_factory.mktemp("world") / "tiny"
    build_world(out, PRESETS["tiny"], 0)
    return out / CATALOG


def test_the_base_package_never_imports_terratorch():
    code = ("import sys, tm_weather.cli, tm_weather.commands.train, tm_weather.commands.generate, "
            "tm_weather.terramind.model, tm_weather.terramind.train, tm_weather.terramind.generate; "
            "assert 'terratorch' not in sys.modules and 'diffusers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_terramind_flags_need_a_terramind_backbone(tmp_path, capsys):
    from tm_weather.cli import main

    assert main(["train", "--terramind-weights", str(tmp_path / "w.pt"), "--out", str(tmp_path / "out")]) == 2
    assert "--backbone terramind-tiny" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_tokenize_train_reload_generate(extra, offline, tiny, tmp_path, capsys):
    from safetensors.torch import load_file

    from tm_weather.cli import main
    from tm_weather.terramind.model import FORMAT, load
    from tm_weather.terramind.tokenizers import TerraMindTokenizers
    from tm_weather.tiles import read_tile

    # TerraMind's S-2 L2A tokenizer, random weights, on a real tile: 14 x 14 FSQ 8-8-8-6-5 tokens
    tokenizers = TerraMindTokenizers.build(("s2l2a",))
    assert tokenizers.loaded == {"s2l2a": "random"}
    tokens = tokenizers.tile_tokens(read_tile(SHARED_S2))["s2l2a"]
    assert tokens.shape == (196,) and tokens.dtype == torch.int64 and 0 <= int(tokens.min()) <= int(tokens.max()) < 15360
    assert len(tokens.unique()) > 1

    # the weather modalities trained for a few steps on terramind_v1_tiny
    out = tmp_path / "out"
    args = ["train", "--backbone", "terramind-tiny", "--terramind-images", "s2l2a", "--catalog", str(tiny), "--steps", "3",
            "--out", str(out), "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0
    path = out / "transformer-terramind-tiny.safetensors"
    card = yaml.safe_load(path.with_suffix(".yaml").read_text())
    assert "terramind_v1_tiny" in card["loaded"]["backbone"] and "random" in card["loaded"]["backbone"]
    assert card["loaded"]["image_tokenizers"] == {"s2l2a": "terramind_v1_tokenizer_s2l2a: random"}
    assert card["trained"]["steps"] == 3 and card["new"]["parameters"] > 0 and card["trained"]["frozen_terramind_parameters"] > 0
    assert {"t2m_field", "t2m_hourly"} <= set(card["trained"]["final_losses"])

    # reloaded without pickle: safetensors, every tensor back, TerraMind's keys under backbone.
    tensors = load_file(path)
    model, built, meta = load(path)
    assert meta["format"] == FORMAT and set(built) == {"s2l2a"}
    assert set(tensors) == set(model.state_dict())
    assert any(k.startswith("backbone.encoder_embeddings.tok_sen2l2a@224.") for k in tensors)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, tensors[k], rtol=0, atol=0)

    # a T2M field on the real tile
    nc = tmp_path / "t2m.nc"
    assert main(["generate", "--checkpoint", str(path), "--s2", str(SHARED_S2), "--time", "2021-07-23T13:00",
                 "--members", "2", "--steps", "2", "--out", str(nc)]) == 0
    assert "TerraMind backbone terramind-tiny" in capsys.readouterr().out
    with xr.open_dataset(nc) as ds:
        assert ds["t2m"].shape == (2, 224, 224) and ds["t2m"].attrs["units"] == "K"
        assert np.isfinite(ds["t2m"].values).all() and ds.attrs["backbone"] == "terramind-tiny"
        assert ds.rio.crs is not None


def test_terramind_weights_are_loaded_strictly(extra, offline, tiny, tmp_path, capsys):
    from tm_weather.cli import main
    from tm_weather.terramind.model import TerraMindConfig, WeatherTerraMind, load_terramind, terramind_state
    from tm_weather.terramind.model import load as load_checkpoint

    # a "TerraMind checkpoint": a random model's TerraMind part, other values than the built-in random ones, plus
    # keys the encoder does not use (as TerraMind's published files hold its decoder too)
    model, _ = WeatherTerraMind.build(TerraMindConfig(images=("s2l2a",)))
    gen = torch.Generator().manual_seed(1)
    state = {k: torch.randn(v.shape, generator=gen) if v.is_floating_point() else v for k, v in terramind_state(model).items()}
    weights = tmp_path / "TerraMind_v1_tiny.pt"
    torch.save({**state, "decoder.0.mlp.fc1.weight": torch.zeros(4, 4)}, weights)

    out = tmp_path / "out"
    args = ["train", "--backbone", "terramind-tiny", "--terramind-images", "s2l2a", "--catalog", str(tiny), "--steps", "1",
            "--out", str(out), "--run-dir", str(tmp_path / "run")]
    assert main([*args, "--terramind-weights", str(weights)]) == 0
    trained, _, meta = load_checkpoint(out / "transformer-terramind-tiny.safetensors")
    assert meta["terramind_weights"] == str(weights)
    for k, v in state.items():  # every TerraMind key found, loaded, and left as it was (frozen)
        torch.testing.assert_close(terramind_state(trained)[k], v, rtol=0, atol=0)
    card = yaml.safe_load((out / "transformer-terramind-tiny.yaml").read_text())
    assert str(weights) in card["loaded"]["backbone"] and f"{len(state)} tensors" in card["loaded"]["backbone"]

    # fixed buffers (sin-cos positions) are not required: a file without them loads, the rest from it
    buffers = {k for k, _ in model.backbone.named_buffers()}
    assert "encoder_embeddings.tok_sen2l2a@224.pos_emb" in buffers
    no_buffers = tmp_path / "no_buffers.pt"
    torch.save({k: v for k, v in state.items() if k not in buffers}, no_buffers)
    assert load_terramind(model, no_buffers) == len(state) - len(buffers)
    torch.testing.assert_close(model.backbone.encoder_norm.weight, state["encoder_norm.weight"], rtol=0, atol=0)

    # a file lacking parameters: exit 2, naming the file and the missing keys, nothing written
    del state["encoder.3.attn.qkv.weight"], state["encoder_norm.weight"]
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    capsys.readouterr()
    assert main([*args[:-4], "--out", str(tmp_path / "out2"), "--run-dir", str(tmp_path / "run"),
                 "--terramind-weights", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "encoder.3.attn.qkv.weight" in err and "encoder_norm.weight" in err and "2 missing" in err
    assert not (tmp_path / "out2").exists()
