"""Image tokenizers (shapes, standardisation, categorical path, crops) and the coordinates tokenizer."""

import pytest
import torch

from tm_weather.tokenizers import coords
from tm_weather.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
from tm_weather.tokenizers.image_data import psnr_db, random_crops
from tm_weather.tokenizers.registry import IMAGE_CONFIGS, S2_MEAN


def test_continuous_image_gives_14x14_tokens_and_units_back():
    torch.manual_seed(0)
    model = ImageTokenizer(IMAGE_CONFIGS["dem"]).eval()
    x = 500 + 100 * torch.randn(2, 1, 224, 224)
    tokens = model.encode(x)
    assert tokens.shape == (2, 14, 14) and tokens.dtype == torch.int64
    assert int(tokens.max()) < 15360
    y = model.decode(tokens)
    assert y.shape == x.shape
    out, _ = model(x)  # decoder output is standardised: decode undoes it with the fixed constants
    assert torch.allclose(y, out * 951.272 + 670.665, atol=1e-2)


def test_s2_standardisation_is_terramind_in_reflectance():
    cfg = IMAGE_CONFIGS["s2l2a"]
    assert cfg.channels == 12 and cfg.mean[7] == pytest.approx(S2_MEAN[7] / 1e4)
    model = ImageTokenizer(cfg)
    x = torch.tensor(cfg.mean).view(1, 12, 1, 1).expand(1, 12, 32, 32)
    assert model._inputs(x).abs().max() < 1e-6  # the per-band mean maps to zero


def test_categorical_decodes_to_class_maps():
    torch.manual_seed(0)
    model = ImageTokenizer(IMAGE_CONFIGS["lulc"]).eval()
    assert model.fsq.codebook_size == 4375
    x = torch.randint(0, 9, (1, 224, 224))
    assert model.decode(model.encode(x)).shape == (1, 224, 224)
    with torch.no_grad():
        assert float(model.loss(x)) > 0


def test_bad_image_shapes_are_refused():
    model = ImageTokenizer(ImageTokenizerConfig(channels=2, mean=(0, 0), std=(1, 1), width=8, blocks=0))
    with pytest.raises(ValueError, match="multiples of 16"):
        model.encode(torch.zeros(1, 2, 100, 100))
    with pytest.raises(ValueError, match=r"\(b, 2, h, w\)"):
        model.encode(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="mean and std"):
        ImageTokenizerConfig(channels=3)


def test_random_crops_come_from_the_images():
    images = torch.arange(2 * 64 * 64, dtype=torch.float32).reshape(2, 1, 64, 64)
    crops = random_crops(images, 5, torch.Generator().manual_seed(0), crop=16)
    assert crops.shape == (5, 1, 16, 16)
    for c in crops:  # every crop's values are a contiguous block of one image, turned or flipped
        assert set(c.unique().tolist()) <= set(images.unique().tolist())
        assert c.max() - c.min() == pytest.approx(15 * 64 + 15)


def test_psnr_against_brute_force():
    err = torch.full((1, 2, 4, 4), 0.1)
    err[:, 1] = 0.01
    assert psnr_db(err, 1.0) == pytest.approx([20.0, 40.0])


def test_coordinates_round_trip_on_the_grid():
    lat = torch.tensor([-90.0, -33.25, 0.0, 51.5, 90.0])
    lon = torch.tensor([-180.0, 151.0, 0.25, -0.5, 179.75])
    tokens = coords.encode(lat, lon)
    assert tokens.shape == (5, 2) and int(tokens[:, 0].max()) < 721 <= int(tokens[:, 1].min())
    back_lat, back_lon = coords.decode(tokens)
    assert torch.equal(back_lat, lat.double()) and torch.equal(back_lon, lon.double())


def test_coordinates_error_at_most_an_eighth_degree():
    g = torch.Generator().manual_seed(0)
    lat = torch.rand(1000, generator=g, dtype=torch.float64) * 180 - 90
    lon = torch.rand(1000, generator=g, dtype=torch.float64) * 720 - 360  # any longitude, wrapped
    back_lat, back_lon = coords.decode(coords.encode(lat, lon))
    assert (back_lat - lat).abs().max() <= 0.125 + 1e-9
    dlon = torch.remainder(back_lon - lon + 180, 360) - 180
    assert dlon.abs().max() <= 0.125 + 1e-9
    assert int(coords.encode(torch.tensor([0.0]), torch.tensor([180.0]))[0, 1]) == 721  # 180 E is 180 W
    with pytest.raises(ValueError, match="latitudes"):
        coords.encode(torch.tensor([91.0]), torch.tensor([0.0]))
