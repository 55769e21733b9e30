"""Every metric of the model and of every baseline, overall and broken down, as one tidy table.

`collect` puts the tiles side by side: the model's ensemble `fcst` `(tile, lead_time, member, *space)`, the
truth `obs` `(tile, lead_time, *space)` and each baseline `(tile, lead_time, *space)`, in K, where space is
the truth's verification space (`tm_weather.verify.truth`); tiles with fewer lead times or stations are padded
with NaN. `score_table` scores them: RMSE, MAE, bias (K), ACC against the climatology baseline, CRPS (K; for a
deterministic baseline the ECDF CRPS is its absolute error), fair CRPS and spread-skill for the ensemble;
overall and by lead time, tile, land-cover class (the class covering most of each verified place), UTC hour of
day and season. Each system is scored on the samples where it and the model both have values; the scorecard
compares the model with each baseline on exactly their common samples. Pixels of a tile's projected grid are
equal-area, so no latitude weights are applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from tm_weather.errors import InputError
from tm_weather.sources.sentinel2 import read_lulc
from tm_weather import metrics as M
from tm_weather.verify.baselines import Baseline, TileCase
from tm_weather.verify.prediction import LEAD, TilePrediction
from tm_weather.verify.truth import GridTruth, Observed, StationTruth

log = logging.getLogger(__name__)
MODEL = "model"
CLIMATOLOGY = "climatology"
#: TerraMind's land-cover classes (ESRI 10 m renumbered 1-9; tests/data/PROVENANCE.md), for the breakdown's labels.
LULC_CLASSES = {1: "water", 2: "trees", 3: "flooded vegetation", 4: "crops", 5: "built area", 6: "bare ground",
                7: "snow/ice", 8: "clouds", 9: "rangeland"}


@dataclass
class Verification:
    """What is compared (see the module docstring). `valid_time` `(tile, lead_time)`; `lulc` `(tile, *space)`
    dominant land-cover class or None; `unavailable`: baseline name -> why it could not be computed;
    `cases`, `predictions`: per tile, for the maps and example tiles."""

    fcst: xr.DataArray
    obs: xr.DataArray
    baselines: dict[str, xr.DataArray]
    valid_time: xr.DataArray
    lulc: xr.DataArray | None
    unavailable: dict[str, str] = field(default_factory=dict)
    cases: list[TileCase] = field(default_factory=list)
    predictions: list[TilePrediction] = field(default_factory=list)

    @property
    def mean(self) -> xr.DataArray:
        """The ensemble mean `(tile, lead_time, *space)`, NaN where a member is."""
        return self.fcst.mean(M.MEMBER, skipna=False)


def collect(predictions: Sequence[TilePrediction], cases: Sequence[TileCase],
            truth_for: Callable[[str], GridTruth | StationTruth], baselines: Sequence[Baseline]) -> Verification:
    """Truth and baselines for each tile's prediction, stacked over tiles. A baseline that fails with
    `InputError` (data it needs are missing) is reported as unavailable; the truth failing is an error."""
    fcst, obs, lulc = [], [], []
    per_baseline: dict[str, list[xr.DataArray]] = {b.name: [] for b in baselines}
    unavailable: dict[str, str] = {}
    for pred, case in zip(predictions, cases):
        seen = truth_for(case.name).on_tile(case.name, case.grid, case.valid)
        obs.append(_indexed(seen.obs, case))
        fcst.append(_indexed(seen.sample(pred.t2m).transpose(LEAD, M.MEMBER, ...), case))
        lulc.append(_dominant_class(case, seen) if case.entry.lulc is not None else None)
        for b in baselines:
            if b.name in unavailable:
                continue
            try:
                per_baseline[b.name].append(_indexed(b.predict(case, seen), case))
            except InputError as e:
                log.warning("baseline %s unavailable: %s", b.name, e)
                unavailable[b.name] = str(e)
    tiles = [c.name for c in cases]

    def stack(parts: list[xr.DataArray]) -> xr.DataArray:
        return xr.concat(parts, dim="tile", join="outer").assign_coords(tile=tiles).astype(np.float32)

    valid = xr.concat([xr.DataArray(c.valid, dims=LEAD, coords={LEAD: c.leads}) for c in cases], "tile", join="outer")
    return Verification(
        fcst=stack(fcst), obs=stack(obs),
        baselines={n: stack(p) for n, p in per_baseline.items() if n not in unavailable},
        valid_time=valid.assign_coords(tile=tiles),
        lulc=None if any(x is None for x in lulc) else stack(lulc),
        unavailable=unavailable, cases=list(cases), predictions=list(predictions),
    )


def _indexed(da: xr.DataArray, case: TileCase) -> xr.DataArray:
    """`da` `(lead_time, ...)` labelled by the case's lead times, ready to stack over tiles."""
    return da.drop_vars([c for c in da.coords if c not in ("station", M.MEMBER)]).assign_coords({LEAD: case.leads})


def _dominant_class(case: TileCase, seen: Observed) -> xr.DataArray:
    """The land-cover class covering most of each verified place `(*space)` (NaN where none is known)."""
    lulc = read_lulc(case.entry.lulc, case.grid)
    classes = np.unique(lulc.values)
    share = xr.concat([seen.sample((lulc == c).astype(np.float32).rio.write_crs(case.grid.crs)) for c in classes], "c")
    best = share.fillna(-1).argmax("c")
    out = xr.DataArray(classes[best.values].astype(np.float32), dims=best.dims, coords=best.coords)
    return out.where(share.notnull().all("c"))


def labels(v: Verification) -> dict[str, str | xr.DataArray | None]:
    """Breakdown name -> how samples are grouped: None (all in one group), a dim of `v.obs` (kept by the
    metrics' `preserve_dims`) or labels broadcastable to `v.obs` (grouped by `metrics.by_group`)."""
    out = {
        "all": None,
        "lead time (h)": LEAD,
        "tile": "tile",
        "hour of day (UTC)": v.valid_time.dt.hour.where(v.valid_time.notnull()),
        "season": v.valid_time.dt.season,
    }
    if v.lulc is not None:
        out["land cover"] = v.lulc
    return out


def _score(metric: Callable[..., xr.DataArray], fcst: xr.DataArray, obs: xr.DataArray,
           group: str | xr.DataArray | None, **kwargs) -> pd.Series:
    """metric -> pd.Series by group (see `labels`); the index is the group label as text ("all" for None)."""
    if group is None:
        return pd.Series({"all": float(metric(fcst, obs, **kwargs))})
    if isinstance(group, str):
        res = metric(fcst, obs, preserve_dims=[group], **kwargs).rename({group: "group"})
    else:
        res = M.by_group(metric, fcst, obs, group, "group", **kwargs)
    return pd.Series(res.values.astype(float), index=[_label(g) for g in res["group"].values])


def _label(g) -> str:
    """A group label as text: lead times in hours, whole numbers without decimals."""
    if isinstance(g, np.timedelta64):
        g = g / np.timedelta64(1, "h")
    return str(int(g)) if isinstance(g, (float, np.floating)) and float(g).is_integer() else str(g)


#: Breakdowns that also get ACC and the model's fair CRPS and spread-skill (the others: RMSE, MAE, bias, CRPS).
FULL = ("all", "lead time (h)")


def _count(fcst: xr.DataArray, obs: xr.DataArray, preserve_dims: list[str] | None = None) -> xr.DataArray:
    """Number of finite observations, over every dim but `preserve_dims`."""
    return obs.count([d for d in obs.dims if d not in (preserve_dims or [])])


def _metrics(system: str, v: Verification, fcst: xr.DataArray, obs: xr.DataArray, full: bool) -> dict[str, Callable]:
    """metric name -> score(group) of `system` (`fcst` deterministic; the model's ensemble is `v.fcst`)."""
    ens = v.fcst if system == MODEL else fcst.expand_dims(M.MEMBER)
    out = {
        "RMSE": lambda g: _score(M.rmse, fcst, obs, g),
        "MAE": lambda g: _score(M.mae, fcst, obs, g),
        "bias": lambda g: _score(M.bias, fcst, obs, g),
        "CRPS": lambda g: _score(M.crps, ens, obs, g),
    }
    clim = v.baselines.get(CLIMATOLOGY)
    if full and clim is not None and system != CLIMATOLOGY:
        out["ACC"] = lambda g: _score(M.acc, fcst, obs, g, clim=clim)
    if full and system == MODEL:
        out["CRPS (fair)"] = lambda g: _score(M.crps, ens, obs, g, method="fair")
        out["spread-skill"] = lambda g: _score(M.spread_skill, ens, obs, g)
    return out


def score_table(v: Verification) -> pd.DataFrame:
    """Columns system, metric, breakdown, group, value, n (samples): the model on all its samples and each
    baseline on the samples it shares with the model, for every breakdown of `labels`; then the scorecard
    rows (breakdown 'scorecard vs <baseline>') with the model and the baseline on their common samples.
    Groups without samples are left out."""
    mean = v.mean
    obs = v.obs.where(mean.notnull())
    rows = []

    def add(system: str, fcst: xr.DataArray, o: xr.DataArray, breakdown: str, group, full: bool) -> None:
        n = _score(_count, o, o, group)
        for metric, score in _metrics(system, v, fcst, o, full).items():
            rows.extend(dict(system=system, metric=metric, breakdown=breakdown, group=g, value=x, n=int(n[g]))
                        for g, x in score(group).items() if n.get(g, 0) > 0)

    for breakdown, group in labels(v).items():
        add(MODEL, mean, obs, breakdown, group, breakdown in FULL)
        for name, b in v.baselines.items():
            add(name, b, obs.where(b.notnull()), breakdown, group, breakdown in FULL)
    for name, b in v.baselines.items():
        common = obs.where(b.notnull())
        add(MODEL, mean, common, f"scorecard vs {name}", None, True)
        add(name, b, common, f"scorecard vs {name}", None, True)
    table = pd.DataFrame(rows)
    cover = table["breakdown"] == "land cover"
    table.loc[cover, "group"] = [f"{g} {LULC_CLASSES.get(int(g), '')}".strip() for g in table.loc[cover, "group"]]
    return table


def rank_histogram(v: Verification) -> xr.DataArray:
    """The model's rank histogram over every sample, dim `rank`."""
    return M.rank_histogram(v.fcst, v.obs)
