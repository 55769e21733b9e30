"""Generation: deterministic for a seed, valid members, sampling filters, the decoding schedule, TiM, any subset
of conditions, and `tm-weather generate` on a real Sentinel-2 tile (netCDF and GeoTIFF)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import torch
import xarray as xr

from model_support import SMALL, one_thread, untrained_tokenizers, write_small_checkpoint  # noqa: F401  (fixture)
from tm_weather.cli import main
from tm_weather.model.generate import GenerationConfig, filter_logits, generate, generate_t2m, unmasked_after
from tm_weather.model.transformer import MODALITIES, MODALITY_ID, MultiModalTransformer
from tm_weather.tokenizers.registry import save_tokenizer
TARGETS = ("t2m_field", "t2m_hourly")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiModalTransformer(SMALL).eval()


def conditions(names=("s2l2a", "dem", "gfs", "coords", "time"), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.randint(0, MODALITIES[MODALITY_ID[n]].vocab, (MODALITIES[MODALITY_ID[n]].length,), generator=gen)
            for n in names}


def test_deterministic_for_a_seed(model):
    config = GenerationConfig(members=3, steps=4, seed=7)
    a, b = generate(model, conditions(), TARGETS, config), generate(model, conditions(), TARGETS, config)
    c = generate(model, conditions(), TARGETS, GenerationConfig(members=3, steps=4, seed=8))
    assert all(torch.equal(a[k], b[k]) for k in TARGETS)
    assert not torch.equal(a["t2m_field"], c["t2m_field"])


def test_each_member_is_a_valid_field(model):
    tokenizers = untrained_tokenizers()
    out = generate(model, conditions(), TARGETS, GenerationConfig(members=4, steps=4))
    for name in TARGETS:
        m = MODALITIES[MODALITY_ID[name]]
        assert out[name].shape == (4, m.length) and int(out[name].min()) >= 0 and int(out[name].max()) < m.vocab
    fields = tokenizers.decode("t2m_field", out["t2m_field"])
    assert fields.shape == (4, 1, 224, 224) and bool(torch.isfinite(fields).all())
    assert len({tuple(row.tolist()) for row in out["t2m_field"]}) == 4  # members differ


def test_top_k_one_makes_members_identical(model):
    out = generate(model, conditions(), TARGETS, GenerationConfig(members=3, steps=3, order="maskgit", top_k=1))
    assert bool((out["t2m_field"] == out["t2m_field"][0]).all())


def test_filter_logits_against_brute_force():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0]])
    p = logits.softmax(-1)[0]
    kept = filter_logits(logits, 1.0, 0, 0.8).exp()[0]
    order = p.argsort(descending=True)
    cut = int((p[order].cumsum(0) < 0.8).sum()) + 1  # smallest prefix reaching 0.8
    assert set(torch.nonzero(kept).flatten().tolist()) == set(order[:cut].tolist())
    torch.testing.assert_close(kept[order[:cut]], p[order[:cut]] / p[order[:cut]].sum())
    assert int((filter_logits(logits, 0.5, 2, 1.0).exp()[0] > 0).sum()) == 2
    torch.testing.assert_close(filter_logits(logits, 2.0, 0, 1.0).exp(), (logits / 2).softmax(-1))


def test_cosine_schedule():
    done = [unmasked_after(s, 8, 196) for s in range(8)]
    assert done == sorted(done) and done[-1] == 196 and done[0] >= 1
    assert done[0] == 196 - math.ceil(196 * math.cos(math.pi / 16))


def test_tim_generates_land_cover_first_and_feeds_it_back(model):
    config = GenerationConfig(members=2, steps=3)
    standard = generate(model, conditions(), TARGETS, config)
    tim = generate(model, conditions(), TARGETS, config, tim=True)
    assert set(tim) == {"lulc", "ndvi", *TARGETS} and tim["lulc"].shape == (2, 196)
    assert not torch.equal(tim["t2m_field"], standard["t2m_field"])  # the encoder saw the generated land cover
    given = generate(model, conditions(("s2l2a", "lulc", "coords", "time")), TARGETS, config, tim=True)
    assert "lulc" not in given and "ndvi" in given  # a given modality is not generated


def test_t2m_with_gfs_is_gfs_plus_the_generated_residual(model):
    tokenizers = untrained_tokenizers()
    gfs = 280.0 + 5 * torch.sin(torch.arange(24) / 24 * 2 * math.pi)
    config = GenerationConfig(members=2, steps=2)
    cond = conditions()
    cond["gfs"] = tokenizers.encode("gfs", gfs.reshape(1, 1, 24))[0]
    fields, profiles, tokens = generate_t2m(model, tokenizers, cond, 6, config, gfs)
    assert set(tokens) == {"t2m_residual", "t2m_field"} and tokens["t2m_residual"].shape == (2, 4)
    torch.testing.assert_close(profiles, gfs + tokenizers.decode("t2m_residual", tokens["t2m_residual"])[:, 0])
    torch.testing.assert_close(fields.mean(dim=(1, 2)), profiles[:, 6], atol=1e-3, rtol=0)  # level at the valid hour
    del cond["gfs"]
    _, absolute, tokens = generate_t2m(model, tokenizers, cond, 6, config)
    assert set(tokens) == {"t2m_hourly", "t2m_field"}
    torch.testing.assert_close(absolute, tokenizers.decode("t2m_hourly", tokens["t2m_hourly"])[:, 0])
    with pytest.raises(ValueError, match="GFS series"):
        generate_t2m(model, tokenizers, cond, 6, config, gfs)


def test_any_subset_of_conditions(model):
    out = generate(model, conditions(("coords", "time")), TARGETS, GenerationConfig(members=2, steps=2))
    assert out["t2m_field"].shape == (2, 196)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny random transformer checkpoint and the untrained tokenizers it was "trained" with, on disk."""
    folder = tmp_path_factory.mktemp("ck")
    write_small_checkpoint(folder)
    return folder


@pytest.mark.parametrize("suffix", [".nc", ".tif"])
def test_generate_command_on_a_real_tile(shipped, data_dir, tmp_path, suffix):
    tiles = data_dir / "sentinel2" / "terramind-examples"
    s2 = tiles / "S2L2A" / "38D_378R_2_3.tif"
    out = tmp_path / f"out{suffix}"
    args = ["generate", "--s2", str(s2), "--time", "2021-07-01T12:00", "--lulc", str(tiles / "LULC" / s2.name),
            "--members", "3", "--steps", "2", "--boa-add-offset", "0", "--checkpoint", str(shipped / "t.safetensors"),
            "--tokenizers", str(shipped), "--out", str(out)]
    assert main(args) == 0
    crs = rioxarray.open_rasterio(s2).rio.crs
    if suffix == ".nc":
        ds = xr.open_dataset(out)  # the defaults, as a user opens it: the CRS must survive them
        assert ds["t2m"].dims == ("member", "y", "x") and ds.sizes["member"] == 3 and ds["t2m"].attrs["units"] == "K"
        assert ds.rio.crs == crs and ds["t2m"].rio.crs == crs and ds["t2m_hourly"].shape == (3, 24)
        assert bool(np.isfinite(ds["t2m"]).all()) and float(ds["t2m_spread"].min()) >= 0
        assert len(ds.attrs["checkpoint_sha256"]) == 64 and "lulc" in ds.attrs["conditioned_on"]
        np.testing.assert_allclose(ds["t2m_mean"], ds["t2m"].mean("member"), atol=1e-4)
    else:
        tif = rioxarray.open_rasterio(out)
        assert tif.sizes["band"] == 5 and tif.rio.crs == crs  # 3 members, mean, spread
        assert tif.attrs["long_name"][3] == "t2m ensemble mean" and tif.attrs["units"] == "K"


def test_generate_refuses_tokenizers_it_was_not_trained_with(shipped, data_dir, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    tokenizers = untrained_tokenizers(seed=1)
    for name, m in tokenizers.models.items():
        save_tokenizer(m, name, other / f"{name}.safetensors")
    s2 = data_dir / "sentinel2" / "terramind-examples" / "S2L2A" / "38D_378R_2_3.tif"
    args = ["generate", "--s2", str(s2), "--time", "2021-07-01T12:00", "--boa-add-offset", "0", "--checkpoint",
            str(shipped / "t.safetensors"), "--tokenizers", str(other), "--out", str(tmp_path / "x.nc")]
    assert main(args) == 2
    assert "sha256" in capsys.readouterr().err and not (tmp_path / "x.nc").exists()
