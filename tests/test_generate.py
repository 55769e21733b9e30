"""Generation: deterministic for a seed, valid members, sampling filters, the decoding schedule, TiM, any subset
of conditions, and `tm-weather generate` on a real Sentinel-2 tile (netCDF and GeoTIFF)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import torch
import xarray as xr

from model_support import (REGRESSION_NAME, SMALL, one_thread, small_regression, untrained_tokenizers,  # noqa: F401  (fixture)
                           write_small_checkpoint)
from tm_weather.cli import main
from tm_weather.errors import InputError
from tm_weather.model.generate import (GenerationConfig, filter_logits, generate, generate_t2m, generate_tile,
                                       profiles_kelvin, t2m_targets, tile_conditions, unmasked_after)
from tm_weather.model.generator import Generator
from tm_weather.model.transformer import MODALITIES, MODALITY_ID, MultiModalTransformer
from tm_weather.tiles import GFSInput
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


@pytest.fixture(scope="module")
def real_tile():
    """A real Sentinel-2 tile with its DEM (Tanzania, June)."""
    from pathlib import Path

    from tm_weather.tiles import read_tile

    tiles = Path(__file__).parent / "data" / "sentinel2" / "terramind-examples"
    return read_tile(tiles / "S2L2A" / "38D_378R_2_3.tif", tiles / "DEM" / "38D_378R_2_3.tif", boa_add_offset=0)


def a_gfs_input(level: float = 290.0) -> GFSInput:
    """A smooth diurnal GFS input over a day, the hours from the 00, 06, 12 and 18Z runs (leads 0-5)."""
    values = level + 5 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    return GFSInput(values.astype(np.float32), np.tile(np.arange(6), 4))


def departures(tokenizers, tokens, name: str, sd: float = 0.5) -> torch.Tensor:
    """Each member's decoded residual minus the members' mean, rescaled to the standard deviation `sd` K over the
    members at each hour (`small_regression`'s error model says 0.5 K for the level) `(members, 24)` K."""
    residual = tokenizers.decode(name, tokens)[:, 0]
    d = residual - residual.mean(0, keepdim=True)
    return sd * d / d.std(0)


def test_t2m_is_the_regression_profile_plus_the_members_departures(model, real_tile):
    """With GFS: the transformer samples only `t2m_residual`, and the profiles are the regression's profile given
    GFS + each member's departure from the members' mean residual (sized by the error model); without: only
    `t2m_residual_clim`, on the regression's profile without GFS (the climate as base). The members' mean profile
    is the regression's; each member's field has its profile's level at the valid hour; the regression mean too."""
    tokenizers, regression = untrained_tokenizers(), small_regression()
    config = GenerationConfig(members=2, steps=2, seed=1)
    time = np.datetime64("2021-06-15T06:00")
    hours = np.datetime64("2021-06-15T00:00", "ns") + np.arange(24) * np.timedelta64(1, "h")
    gfs = a_gfs_input()
    cond = tile_conditions(real_tile, tokenizers, time, gfs)
    assert "gfs" in cond and "dem" in cond
    fields, profiles, mean, tokens = generate_t2m(model, tokenizers, regression, real_tile, cond, time, config, gfs)
    assert set(tokens) == {"t2m_residual"} and tokens["t2m_residual"].shape == (2, 4)
    base = regression.profile(real_tile, hours, gfs)
    torch.testing.assert_close(profiles, base + departures(tokenizers, tokens["t2m_residual"], "t2m_residual"))
    torch.testing.assert_close(profiles.mean(0), base, atol=1e-4, rtol=0)
    torch.testing.assert_close(profiles.std(0), torch.full((24,), 0.5), atol=1e-4, rtol=0)  # the error model's level sd
    assert fields.shape == (2, 224, 224) and mean.shape == (224, 224) and profiles.shape == (2, 24)
    torch.testing.assert_close(fields.mean(dim=(1, 2)), profiles[:, 6], atol=1e-3, rtol=0)  # level at the valid hour
    assert float(mean.mean()) == pytest.approx(float(base[6]), abs=1e-3)  # the regression mean: its level, no residual
    assert not torch.equal(fields[0], fields[1])  # members differ

    cond = tile_conditions(real_tile, tokenizers, time)
    assert "gfs" not in cond
    _, clim_profiles, clim_mean, tokens = generate_t2m(model, tokenizers, regression, real_tile, cond, time, config)
    assert set(tokens) == {"t2m_residual_clim"}
    clim_base = regression.profile(real_tile, hours)
    torch.testing.assert_close(clim_profiles, clim_base + departures(tokenizers, tokens["t2m_residual_clim"], "t2m_residual"))
    assert float(clim_mean.mean()) == pytest.approx(float(clim_base[6]), abs=1e-3)
    assert float((base - clim_base).abs().max()) > 0.1  # the base is GFS with it, the climate without

    with pytest.raises(ValueError, match="GFS input"):
        generate_t2m(model, tokenizers, regression, real_tile, cond, time, config, gfs)
    with pytest.raises(ValueError, match="GFS input"):
        generate_t2m(model, tokenizers, regression, real_tile, tile_conditions(real_tile, tokenizers, time, gfs),
                     time, config)


def test_profiles_kelvin_decodes_the_residual_onto_the_base():
    tokenizers = untrained_tokenizers()
    tokens = torch.randint(0, MODALITIES[MODALITY_ID["t2m_residual"]].vocab, (3, 4), generator=torch.Generator().manual_seed(0))
    base = 280.0 + torch.arange(24, dtype=torch.float32)
    residual = tokenizers.decode("t2m_residual", tokens)[:, 0]
    torch.testing.assert_close(profiles_kelvin(tokenizers, {"t2m_residual": tokens}, base), base + residual)
    torch.testing.assert_close(profiles_kelvin(tokenizers, {"t2m_residual_clim": tokens}, base), base + residual)
    per_row = base + torch.tensor([[0.0], [1.0], [2.0]])
    torch.testing.assert_close(profiles_kelvin(tokenizers, {"t2m_residual": tokens}, per_row), per_row + residual)


def test_t2m_targets_one_residual_each_way():
    assert t2m_targets(True) == ("t2m_residual",) and t2m_targets(False) == ("t2m_residual_clim",)


def test_generate_tile_writes_the_regression_mean(model, real_tile):
    tokenizers, regression = untrained_tokenizers(), small_regression()
    config = GenerationConfig(members=3, steps=2, seed=0)
    ds = generate_tile(model, tokenizers, regression, real_tile, real_tile.acquired, a_gfs_input(), config,
                       provenance={"note": "x"})
    assert ds["t2m"].shape == (3, 224, 224) and ds["t2m_regression_mean"].shape == (224, 224)
    assert "t2m_anomaly_mean" not in ds and ds["t2m_regression_mean"].attrs["units"] == "K" and ds.attrs["note"] == "x"
    hour = int(str(real_tile.acquired)[11:13])
    np.testing.assert_allclose(ds["t2m"].mean(("y", "x")), ds["t2m_hourly"].values[:, hour], atol=1e-3)
    # each member: the regression's within-tile anomaly + a residual draw of the fitted size, on the member's level
    within = ds["t2m_regression_mean"].values - ds["t2m_regression_mean"].values.mean()
    residual = ds["t2m"].values - ds["t2m"].values.mean((1, 2), keepdims=True) - within
    assert 0.6 * 0.3 < float(residual.std(axis=(1, 2)).min()) <= 1.05 * 0.3  # small_regression's cell_sd
    again = generate_tile(model, tokenizers, regression, real_tile, real_tile.acquired, a_gfs_input(), config)
    np.testing.assert_array_equal(again["t2m"].values, ds["t2m"].values)  # same seed, same field


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
        assert ds["t2m_regression_mean"].dims == ("y", "x") and bool(np.isfinite(ds["t2m_regression_mean"]).all())
        assert ds.attrs["regression"] == str(shipped / REGRESSION_NAME) and len(ds.attrs["regression_sha256"]) == 64
        assert ds.attrs["input_gfs"] == "" and ds.attrs["input_gfs_leads_h"] == ""  # no GFS given
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


def test_generator_load_finds_the_regression_beside_the_checkpoint(shipped):
    from tm_weather.tokenizers.registry import sha256

    generator = Generator.load(shipped / "t.safetensors", shipped)
    assert generator.regression_path == shipped / REGRESSION_NAME
    assert generator.regression.sha256 == sha256(shipped / REGRESSION_NAME)
    provenance = generator.provenance()
    assert provenance["regression_sha256"] == generator.regression.sha256
    assert provenance["checkpoint_sha256"] == sha256(shipped / "t.safetensors")


def copy_checkpoint(shipped, folder):
    """A copy of the small checkpoint folder, to spoil."""
    import shutil

    shutil.copytree(shipped, folder)
    return folder / "t.safetensors"


def test_generator_load_refuses_a_regression_it_was_not_trained_with(shipped, tmp_path):
    checkpoint = copy_checkpoint(shipped, tmp_path / "ck")
    other = tmp_path / "other.safetensors"
    small_regression(seed=1).save(other)  # same architecture, other weights
    with pytest.raises(InputError, match="sha256") as e:
        Generator.load(checkpoint, tmp_path / "ck", regression=other)
    assert str(other) in str(e.value)
    (tmp_path / "ck" / REGRESSION_NAME).write_bytes(other.read_bytes())  # replaced beside the checkpoint
    with pytest.raises(InputError, match="sha256") as e:
        Generator.load(checkpoint, tmp_path / "ck")
    assert REGRESSION_NAME in str(e.value)
    (tmp_path / "ck" / REGRESSION_NAME).unlink()
    with pytest.raises(InputError, match="no such file") as e:
        Generator.load(checkpoint, tmp_path / "ck")
    assert REGRESSION_NAME in str(e.value)


def test_generator_load_refuses_a_checkpoint_without_regression_metadata(shipped, tmp_path):
    from tm_weather.model.transformer import load_model, save_model

    model, meta = load_model(shipped / "t.safetensors")
    save_model(model, tmp_path / "old.safetensors", {"tokenizers": meta["tokenizers"]})  # as before the split
    with pytest.raises(InputError, match="regression metadata"):
        Generator.load(tmp_path / "old.safetensors", shipped)


def test_generator_load_refuses_a_tokenizer_it_was_not_trained_with(shipped, tmp_path):
    checkpoint = copy_checkpoint(shipped, tmp_path / "ck")
    name = "t2m_residual"
    save_tokenizer(untrained_tokenizers(seed=1).models[name], name, tmp_path / "ck" / f"{name}.safetensors")
    with pytest.raises(InputError, match="sha256") as e:
        Generator.load(checkpoint, tmp_path / "ck")
    assert f"tokenizer {name}" in str(e.value)


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """The session's tiny benchmark world (its GFS runs in the catalog's cache; read only)."""
    import daily_support
    from tm_weather.world.build import CATALOG

    return daily_support.tiny_world(tmp_path_factory) / CATALOG


def test_generate_command_with_gfs_records_its_leads(shipped, tiny_world, tmp_path, no_network):
    """`--gfs CATALOG`: each valid hour from the latest of the catalog's 00/06/12/18Z runs (leads 0-5), recorded
    in `input_gfs_leads_h`; the regression mean in `t2m_regression_mean`."""
    world = tiny_world.parent
    out = tmp_path / "gfs.nc"
    args = ["generate", "--s2", str(world / "S2L2A" / "tile00.tif"), "--dem", str(world / "DEM" / "tile00.tif"),
            "--time", "2023-02-10T12:00", "--members", "2", "--steps", "2", "--gfs", str(tiny_world),
            "--checkpoint", str(shipped / "t.safetensors"), "--tokenizers", str(shipped), "--out", str(out)]
    assert main(args) == 0
    ds = xr.open_dataset(out)
    assert ds.attrs["input_gfs"] == str(tiny_world)
    assert [int(x) for x in ds.attrs["input_gfs_leads_h"].split()] == list(range(6)) * 4
    assert "gfs" in ds.attrs["conditioned_on"]
    assert ds["t2m_regression_mean"].shape == (224, 224) and bool(np.isfinite(ds["t2m_regression_mean"]).all())
    assert 230 < float(ds["t2m_regression_mean"].mean()) < 320  # GFS's February in Bavaria + a small network's level


def test_generate_command_refuses_a_regression_it_was_not_trained_with(shipped, data_dir, tmp_path, capsys):
    other = tmp_path / "other.safetensors"
    small_regression(seed=2).save(other)
    s2 = data_dir / "sentinel2" / "terramind-examples" / "S2L2A" / "38D_378R_2_3.tif"
    args = ["generate", "--s2", str(s2), "--time", "2021-07-01T12:00", "--boa-add-offset", "0", "--members", "2",
            "--steps", "1", "--checkpoint", str(shipped / "t.safetensors"), "--tokenizers", str(shipped),
            "--out", str(tmp_path / "x.nc")]
    assert main([*args, "--regression", str(other)]) == 2
    err = capsys.readouterr().err
    assert str(other) in err and "sha256" in err and not (tmp_path / "x.nc").exists()
    assert main([*args, "--regression", str(shipped / REGRESSION_NAME)]) == 0  # the one it names, given explicitly
    assert xr.open_dataset(tmp_path / "x.nc").attrs["regression"] == str(shipped / REGRESSION_NAME)
