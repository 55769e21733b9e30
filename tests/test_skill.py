"""The transformer's skill scores (`tm_weather.model.skill`) against brute-force numpy."""

from __future__ import annotations

import numpy as np
import pytest

from tm_weather.model.skill import deterministic_score, score


def test_scores_equal_brute_force():
    rng = np.random.default_rng(0)
    ens = rng.normal(280, 2, (5, 6, 14, 14))
    truth = rng.normal(280, 2, (5, 14, 14))
    got = score(ens, truth)
    mean = ens.mean(1)
    m = ens.shape[1]
    skill = np.abs(ens - truth[:, None]).mean(1)
    spread = np.abs(ens[:, :, None] - ens[:, None]).sum((1, 2)) / (2 * m * (m - 1))
    assert got["rmse"] == pytest.approx(np.sqrt(((mean - truth) ** 2).mean()), rel=1e-6)
    assert got["mae"] == pytest.approx(np.abs(mean - truth).mean(), rel=1e-6)
    assert got["bias"] == pytest.approx((mean - truth).mean(), rel=1e-6)
    assert got["crps"] == pytest.approx((skill - spread).mean(), rel=1e-6)  # fair CRPS
    ratio = np.sqrt((m + 1) / m) * np.sqrt(ens.var(1, ddof=1).mean()) / got["rmse"]
    assert got["spread_skill"] == pytest.approx(ratio, rel=1e-6)
    assert deterministic_score(mean, truth)["rmse"] == pytest.approx(got["rmse"], rel=1e-6)
