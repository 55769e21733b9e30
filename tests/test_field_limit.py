"""`benchmarks/field_limit.py`'s linear fits and `benchmarks/fit_variant.py`'s recipe parsing: the numbers
BENCHMARKS.md quotes for what the inputs allow inside the tile come from these."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import field_limit  # noqa: E402
import fit_variant  # noqa: E402


def _maps_and_truth(coefs: np.ndarray, keys: np.ndarray, seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """Random maps `(n, 3, 8, 8)` and a truth anomaly `(n, 24, 8, 8)` made by `coefs[key]` on the maps' anomalies."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(len(keys), 3, 8, 8)).astype(np.float64)
    a = field_limit.demeaned(maps)
    truth = np.einsum("nhf,nfc->nhc", coefs[keys], a).reshape(len(keys), 24, 8, 8)
    return maps, torch.from_numpy(truth)


def test_shared_fit_recovers_per_key_coefficients_and_scores_them_exactly():
    coefs = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    keys = np.tile(np.arange(24) % 2, (5, 1))
    maps, truth = _maps_and_truth(coefs, keys)
    fitted = field_limit.shared_fit(maps, truth, keys)
    assert sorted(fitted) == [0, 1]
    np.testing.assert_allclose(np.stack([fitted[0], fitted[1]]), coefs, atol=1e-8)
    hours = np.arange(0, 24, 3)
    assert np.all(field_limit.shared_mse(fitted, maps, truth, keys, hours) < 1e-12)
    # a key never fitted predicts a flat field: its error is the truth's own mean square
    unseen = np.full_like(keys, 7)
    flat = field_limit.shared_mse(fitted, maps, truth, unseen, hours)
    np.testing.assert_allclose(flat, (truth[:, hours] ** 2).mean((1, 2, 3)).numpy())


def test_shared_fit_skips_hours_whose_truth_has_gaps():
    coefs = np.array([[1.0, -2.0, 0.5]])
    keys = np.zeros((4, 24), int)
    maps, truth = _maps_and_truth(coefs, keys)
    truth[0, 5, 0, 0] = torch.nan
    truth[1, 6] = 1e3  # an hour with a gap is left out whole: were its other cells used, they would pull the fit
    truth[1, 6, 0, 0] = torch.nan
    fitted = field_limit.shared_fit(maps, truth, keys)
    np.testing.assert_allclose(fitted[0], coefs[0], atol=1e-8)


def test_snow_groups_follow_the_groups_bounds():
    shares = np.zeros((4, field_limit.LULC_CLASSES, 2, 2))
    for i, snow in enumerate([0.0, 0.005, 0.5, 1.0]):
        shares[i, field_limit.SNOW_CLASS - 1] = snow
    assert field_limit.snow_groups(shares, 4).tolist() == [0, 0, 1, 2]
    assert field_limit.snow_groups(None, 3).tolist() == [0, 0, 0]


def test_fit_variant_replaces_fit_and_model_fields_and_refuses_unknown_ones():
    from tm_weather.model.anomaly import AnomalyConfig
    from tm_weather.model.anomaly_train import FitConfig

    base = FitConfig(steps=4000)
    config = fit_variant.variant(base, ["basis=16", "steps=8000", "lr=0.005"])
    assert config.steps == 8000 and config.lr == 0.005 and config.model == AnomalyConfig(basis=16)
    assert config.batch == base.batch
    with pytest.raises(SystemExit, match="depth"):
        fit_variant.variant(base, ["depth=3"])
