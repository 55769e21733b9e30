"""Every metric in tm_weather.metrics against a brute-force numpy reference (loops over points, no
xarray), to 1e-6 relative, on seeded random inputs with NaNs, with and without latitude weights and for
several reductions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from tm_weather import metrics as M

DIMS = ("lead", "lat", "x")
SHAPE = (3, 4, 5)
N_MEMBERS = 6
RTOL = 1e-6


def _inputs(seed: int):
    """fcst (member, lead, lat, x), obs (lead, lat, x), clim (lat, x), weights (lat,), labels (lat, x): K values
    with ~15% NaN in obs and ~5% of the ensembles with one NaN member; some members exactly equal to obs."""
    rng = np.random.default_rng(seed)
    obs = 280 + 5 * rng.standard_normal(SHAPE)
    fcst = obs + rng.normal(0.3, 1.5, (N_MEMBERS, *SHAPE))
    tie = rng.random(SHAPE) < 0.1
    fcst[1][tie] = obs[tie]
    obs[rng.random(SHAPE) < 0.15] = np.nan
    fcst[2][rng.random(SHAPE) < 0.05] = np.nan
    clim = 279 + rng.standard_normal(SHAPE[1:])
    lat = np.linspace(-60, 70, SHAPE[1])
    labels = rng.integers(1, 4, SHAPE[1:]).astype(float)
    return fcst, obs, clim, lat, labels


def _xr(fcst, obs, clim, lat, labels):
    coords = {"lat": lat}
    return (
        xr.DataArray(fcst, dims=("member", *DIMS), coords=coords),
        xr.DataArray(obs, dims=DIMS, coords=coords),
        xr.DataArray(clim, dims=DIMS[1:], coords=coords),
        M.latitude_weights(xr.DataArray(lat, dims="lat", coords=coords)),
        xr.DataArray(labels, dims=DIMS[1:], coords=coords),
    )


# ---------------------------------------------------------------- brute-force references (numpy, loops)
def _points(keep: tuple[int, ...]):
    """For each kept index tuple (over axes `keep` of SHAPE), the list of full index tuples reduced into it."""
    groups: dict[tuple, list[tuple]] = {}
    for idx in itertools.product(*(range(n) for n in SHAPE)):
        groups.setdefault(tuple(idx[a] for a in keep), []).append(idx)
    return groups


def _wmean(values: dict[tuple, float], w: np.ndarray | None) -> float:
    """Weighted mean of finite per-point values; weight of a point = w[lat index]."""
    num = den = 0.0
    for idx, v in values.items():
        if np.isfinite(v):
            wi = 1.0 if w is None else w[idx[1]]
            num, den = num + wi * v, den + wi
    return num / den


def _reduce(per_point, keep, w, finish=lambda *m: m[0]):
    """Apply `per_point(idx) -> tuple of values` to every point; weighted means per kept group; `finish`."""
    out = {}
    for key, idxs in _points(keep).items():
        vals = [per_point(i) for i in idxs]
        means = [_wmean(dict(zip(idxs, (v[k] for v in vals))), w) for k in range(len(vals[0]))]
        out[key] = finish(*means)
    return out


def ref_rmse(f, o, keep, w):
    return _reduce(lambda i: ((f[i] - o[i]) ** 2,), keep, w, np.sqrt)


def ref_mae(f, o, keep, w):
    return _reduce(lambda i: (abs(f[i] - o[i]),), keep, w)


def ref_bias(f, o, keep, w):
    return _reduce(lambda i: (f[i] - o[i],), keep, w)


def ref_acc(f, o, c, keep, w):
    def point(i):
        fa, oa = f[i] - c[i[1:]], o[i] - c[i[1:]]
        ok = np.isfinite(fa) and np.isfinite(oa)
        return (fa * oa, fa * fa, oa * oa) if ok else (np.nan,) * 3

    return _reduce(point, keep, w, lambda fo, ff, oo: fo / np.sqrt(ff * oo))


def ref_crps(ens, o, keep, w, fair):
    def point(i):
        x = [v for v in ens[(slice(None), *i)] if np.isfinite(v)]
        m = len(x)
        spread = sum(abs(a - b) for a in x for b in x)
        return (sum(abs(a - o[i]) for a in x) / m - spread / (2 * m * (m - 1) if fair else 2 * m * m),)

    return _reduce(point, keep, w)


def ref_spread_skill(ens, o, keep, w):
    m = ens.shape[0]

    def point(i):
        x = ens[(slice(None), *i)]
        if not (np.all(np.isfinite(x)) and np.isfinite(o[i])):
            return (np.nan, np.nan)
        mean = sum(x) / m
        return (sum((v - mean) ** 2 for v in x) / (m - 1), (mean - o[i]) ** 2)

    return _reduce(point, keep, w, lambda var, se: np.sqrt((m + 1) / m) * np.sqrt(var) / np.sqrt(se))


def ref_rank_histogram(ens, o, keep, w):
    m = ens.shape[0]

    def point(i):
        x = ens[(slice(None), *i)]
        if not (np.all(np.isfinite(x)) and np.isfinite(o[i])):
            return (np.nan,) * (m + 1)
        below, equal = int(sum(v < o[i] for v in x)), int(sum(v == o[i] for v in x))
        return tuple(1 / (equal + 1) if below <= r <= below + equal else 0.0 for r in range(m + 1))

    return _reduce(point, keep, w, lambda *freq: np.array(freq))


# ---------------------------------------------------------------- the comparisons
REDUCTIONS = [  # (kwargs for the metric, axes of SHAPE kept)
    ({}, ()),
    ({"preserve_dims": ["lead"]}, (0,)),
    ({"reduce_dims": ["lat", "x"]}, (0,)),
    ({"preserve_dims": ["lead", "x"]}, (0, 2)),
]


def _check(result: xr.DataArray, reference: dict, keep: tuple[int, ...]) -> None:
    kept = [DIMS[a] for a in keep]
    extra = [d for d in result.dims if d not in kept]
    result = result.transpose(*kept, *extra)
    assert len(reference) == int(np.prod([SHAPE[a] for a in keep]))
    for key, expected in reference.items():
        np.testing.assert_allclose(result.values[key], expected, rtol=RTOL, atol=0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=lambda r: str(r[1]))
def test_metrics_equal_brute_force(seed, weighted, reduction):
    kwargs, keep = reduction
    fcst, obs, clim, lat, labels = _inputs(seed)
    xf, xo, xc, xw, _ = _xr(fcst, obs, clim, lat, labels)
    w = np.cos(np.deg2rad(lat)) if weighted else None
    kwargs = kwargs | ({"weights": xw} if weighted else {})
    mean = fcst.mean(0)  # NaN where a member is NaN: deterministic metrics on the ensemble mean
    xmean = xf.mean("member", skipna=False)

    _check(M.rmse(xmean, xo, **kwargs), ref_rmse(mean, obs, keep, w), keep)
    _check(M.mae(xmean, xo, **kwargs), ref_mae(mean, obs, keep, w), keep)
    _check(M.bias(xmean, xo, **kwargs), ref_bias(mean, obs, keep, w), keep)
    _check(M.acc(xmean, xo, xc, **kwargs), ref_acc(mean, obs, clim, keep, w), keep)
    _check(M.crps(xf, xo, method="ecdf", **kwargs), ref_crps(fcst, obs, keep, w, fair=False), keep)
    _check(M.crps(xf, xo, method="fair", **kwargs), ref_crps(fcst, obs, keep, w, fair=True), keep)
    _check(M.spread_skill(xf, xo, **kwargs), ref_spread_skill(fcst, obs, keep, w), keep)
    _check(M.rank_histogram(xf, xo, **kwargs), ref_rank_histogram(fcst, obs, keep, w), keep)


@pytest.mark.parametrize("seed", range(3))
def test_by_group_equals_masked_brute_force(seed):
    """Breakdown by a label (land-cover class on (lat, x)), preserving lead: each group's RMSE and CRPS equal
    the references over that group's points only."""
    fcst, obs, clim, lat, labels = _inputs(seed)
    xf, xo, _, _, xl = _xr(fcst, obs, clim, lat, labels)
    xmean = xf.mean("member", skipna=False)
    rmse = M.by_group(M.rmse, xmean, xo, xl, "lulc", preserve_dims=["lead"])
    crps = M.by_group(M.crps, xf, xo, xl, "lulc", preserve_dims=["lead"], method="fair")
    assert list(rmse["lulc"].values) == sorted(np.unique(labels))
    for v in np.unique(labels):
        masked = np.where(np.broadcast_to(labels == v, SHAPE), obs, np.nan)
        _check(rmse.sel(lulc=v), ref_rmse(fcst.mean(0), masked, (0,), None), (0,))
        _check(crps.sel(lulc=v), ref_crps(fcst, masked, (0,), None, fair=True), (0,))


def test_perfect_and_calibrated_ensembles():
    """Sanity beyond the references: a perfect forecast scores RMSE 0 and ACC 1; a calibrated ensemble (obs
    drawn like a member) has spread-skill near 1 and a near-flat rank histogram."""
    rng = np.random.default_rng(7)
    n, m = 20000, 10
    members = xr.DataArray(rng.standard_normal((m, n)), dims=("member", "p"))
    obs = xr.DataArray(rng.standard_normal(n), dims="p")
    assert float(M.rmse(obs, obs)) == 0.0
    assert float(M.acc(obs + 1, obs + 1, obs * 0)) == pytest.approx(1.0)
    assert float(M.spread_skill(members, obs)) == pytest.approx(1.0, abs=0.03)
    hist = M.rank_histogram(members, obs).values
    np.testing.assert_allclose(hist, 1 / (m + 1), atol=0.01)
    assert float(M.crps(members, obs, method="fair")) < float(M.crps(members, obs, method="ecdf")) + 1e-12


def test_latitude_weights_are_cosine():
    lat = xr.DataArray([-90.0, -45.0, 0.0, 60.0], dims="lat")
    np.testing.assert_allclose(M.latitude_weights(lat).values, np.cos(np.deg2rad(lat.values)), atol=1e-12)
