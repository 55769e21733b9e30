"""Series tokenizers: shapes and the kelvin contract, window drawing, daily aggregation against brute force,
training, and checkpoint I/O."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from tm_weather.errors import InputError
from tm_weather.tokenizers.registry import load_tokenizer, save_tokenizer
from tm_weather.tokenizers.series import SeriesTokenizer, SeriesTokenizerConfig, gray_digits, gray_value
from tm_weather.tokenizers.series_data import HourlySeries, SeriesTask, random_windows
from tm_weather.tokenizers.train import TrainConfig, train

SMALL = SeriesTokenizerConfig(length=12, channels=2, tokens=3, levels=(8, 5, 5), hidden=32, blocks=1)


def _windows(n: int, config: SeriesTokenizerConfig, seed: int = 0) -> torch.Tensor:
    """Smooth seeded diurnal-like windows `(n, c, t)` around 280 K."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(config.length) / config.length * 2 * torch.pi
    level = 270 + 20 * torch.rand(n, config.channels, 1, generator=g)
    amp = 4 * torch.rand(n, config.channels, 1, generator=g)
    phase = 2 * torch.pi * torch.rand(n, 1, 1, generator=g)
    return level + amp * torch.sin(t + phase)


def test_encode_decode_shapes_and_consistency():
    torch.manual_seed(0)
    model = SeriesTokenizer(SMALL).eval()
    x = _windows(5, SMALL)
    indices = model.encode(x)
    assert indices.shape == (5, 3) and indices.dtype == torch.int64
    assert int(indices.min()) >= 0 and int(indices.max()) < 8 * 5 * 5
    y = model.decode(indices)
    assert y.shape == x.shape
    assert torch.allclose(y, model(x)[0], atol=1e-4)  # decoding the tokens alone == the forward pass


def test_wrong_window_shape_is_refused():
    model = SeriesTokenizer(SMALL)
    with pytest.raises(ValueError, match=r"\(b, 2, 12\)"):
        model.encode(torch.zeros(4, 12))


def test_random_windows_match_brute_force():
    values = torch.arange(3 * 2 * 30, dtype=torch.float32).reshape(3, 2, 30)
    g = torch.Generator().manual_seed(1)
    w = random_windows(values, 7, 50, g)
    assert w.shape == (50, 2, 7)
    for row in w:  # each window is a contiguous slice of one point's series, both channels aligned
        p = int(row[0, 0]) // 60
        j = int(row[0, 0]) % 60
        assert torch.equal(row, values[p, :, j : j + 7])


def test_daily_mean_min_max_and_split():
    hours = np.arange(np.datetime64("2019-03-01T00"), np.datetime64("2019-03-04T00"), np.timedelta64(1, "h"))
    values = 270 + np.random.default_rng(0).normal(size=(2, 72)).astype(np.float32)
    s = HourlySeries(values, hours.astype("datetime64[ns]"), np.array([50.0, 51.0]), np.array([0.0, 1.0]))
    daily = s.daily()
    assert daily.shape == (2, 3, 3)
    for p in range(2):
        for d in range(3):
            day = values[p, 24 * d : 24 * (d + 1)]
            assert daily[p, :, d] == pytest.approx([day.mean(), day.min(), day.max()], rel=1e-6)
    before, after = s.split(np.datetime64("2019-03-03"))
    assert before.values.shape == (2, 48) and after.values.shape == (2, 24)
    assert after.times[0] == np.datetime64("2019-03-03T00")
    with pytest.raises(InputError, match="whole UTC days"):
        HourlySeries(values[:, 1:], hours[1:], s.lat, s.lon).daily()


def test_training_learns_and_evaluation_reports_kelvin():
    torch.manual_seed(0)
    model = SeriesTokenizer(SMALL)
    series = _windows(64, SeriesTokenizerConfig(length=48, channels=2), seed=2)
    task = SeriesTask(series.numpy(), _windows(32, SMALL, seed=3).numpy(), SMALL.length, "synthetic")
    before = task.evaluate(model.eval())["rmse_k"]
    history = train(model, task.draw, TrainConfig(steps=200, batch=64, lr=3e-3), log_every=100)
    after = task.evaluate(model)
    assert history[-1] < history[0] / 10
    assert after["rmse_k"] < before / 5 and after["rmse_k"] < 2.0
    assert 0 < after["codebook_usage"] <= 1 and 1 <= after["perplexity"] <= 200

    # the coordinate-descent search after the encoder never makes a window's error larger
    x = task.test
    plain = (model.decode(model.encode(x)) - x).pow(2).sum(dim=(1, 2))
    model.config = replace(model.config, search_passes=2)
    searched = (model.decode(model.encode(x)) - x).pow(2).sum(dim=(1, 2))
    assert bool((searched <= plain + 1e-4).all()) and searched.sum() < plain.sum()


def test_checkpoint_round_trip_is_float16_exact(tmp_path):
    torch.manual_seed(0)
    model = SeriesTokenizer(SeriesTokenizerConfig(hidden=32, blocks=1)).eval()
    digest = save_tokenizer(model, "t2m_hourly", tmp_path / "m.safetensors")
    assert len(digest) == 64
    loaded, name = load_tokenizer(tmp_path / "m.safetensors")
    assert name == "t2m_hourly" and loaded.config == model.config
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.half().float())


def test_bad_checkpoint_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="safetensors"):
        load_tokenizer(bad)


def test_gray_digits_are_a_bijection_and_neighbours_differ_in_one_digit_by_one():
    radices = (8, 6, 5)
    q = torch.arange(8 * 6 * 5)
    digits = gray_digits(q, radices)
    assert torch.equal(gray_value(digits, radices), q)
    assert bool((digits < torch.tensor(radices)).all() and (digits >= 0).all())
    assert bool(((digits[1:] - digits[:-1]).abs().sum(dim=1) == 1).all())


LEVEL = SeriesTokenizerConfig(length=24, tokens=2, levels=(8, 8, 8, 6, 5), hidden=32, blocks=1, level_digits=3,
                              scale_k=5.0)


def test_level_grid_codes_the_daily_mean_over_200_330_k():
    torch.manual_seed(0)
    model = SeriesTokenizer(LEVEL).eval()
    step = 130.0 / (LEVEL.level_steps - 1)
    x = _windows(64, LEVEL)
    x = x - x.mean(dim=(1, 2), keepdim=True) + torch.linspace(200.0, 330.0, 64)[:, None, None]
    codes = model.fsq.indices_to_codes(model.encode(x))[:, 0, :3]  # the level grid's digits of token 0
    level = model.level_k(codes)
    assert (level - x.mean(dim=(1, 2), keepdim=True)).abs().max() <= step / 2 + 1e-3
    assert model.level_k(model.level_codes(torch.full((2, 1, 24), 150.0))).flatten().tolist() == [200.0, 200.0]


def test_shifting_a_window_by_whole_grid_steps_shifts_its_decoding_and_keeps_its_shape_tokens():
    torch.manual_seed(0)
    model = SeriesTokenizer(replace(LEVEL, search_passes=1)).eval()
    step = 130.0 / (LEVEL.level_steps - 1)
    x = _windows(16, LEVEL)
    for m in (-250, -40, 150):  # to about 205..225 K, 260..280 K and 310..330 K
        shifted = x + m * step
        a, b = model.encode(x), model.encode(shifted)
        codes_a, codes_b = (model.fsq.indices_to_codes(i).flatten(1)[:, 3:] for i in (a, b))
        same = (codes_a == codes_b).all(dim=1)  # the learned digits carry the shape only (float32 rounding of
        assert int(same.sum()) >= 14  # the shifted values may tip a latent sitting on a rounding edge)
        shift = model.decode(b[same]) - model.decode(a[same])
        assert torch.allclose(shift, torch.full_like(shift, m * step), atol=2e-3)
