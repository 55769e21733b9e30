"""A fake generated ensemble, for tests and the report's screenshot only: the truth on a tile plus noise, written
in the layout `tm-weather generate` writes (see `tm_weather.verify.prediction`). It is NOT a model: it knows the
answer and adds a bias, a shared error and member noise that grow with lead time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from tm_weather.lexicon import T2M, T2M_ATTRS
from tm_weather.series import TileGrid
from tm_weather.verify.prediction import LEAD
from tm_weather.verify.truth import GridTruth


def write_fake_prediction(path: Path, truth: GridTruth, tile: str, grid: TileGrid, init: np.datetime64,
                          leads_h: list[int], members: int, seed: int, bias_k: float = 0.3) -> Path:
    """Write `path`: t2m `(lead_time, member, y, x)` K = truth (bilinear on the full tile grid) + `bias_k` + a
    shared error (sd 0.4 + 0.05 K/h) + member noise (same sd) + 0.1 K pixel noise; with `t2m_mean`,
    `t2m_spread`, the tile's CRS and provenance attributes saying it is a fixture."""
    rng = np.random.default_rng(seed)
    leads = np.array(leads_h, dtype="timedelta64[h]").astype("timedelta64[ns]")
    init = np.datetime64(init, "ns")
    full = GridTruth(truth.name, truth.fields, truth.offered, block=1).on_tile(tile, grid, init + leads).obs.values
    sd = 0.4 + 0.05 * np.asarray(leads_h, dtype=float)[:, None, None, None]
    shape = (len(leads_h), members, *grid.shape)
    t2m = (full[:, None] + bias_k + sd * rng.standard_normal((len(leads_h), 1, 1, 1))
           + sd * rng.standard_normal((len(leads_h), members, 1, 1)) + 0.1 * rng.standard_normal(shape))
    x, y = grid.centres()
    da = xr.DataArray(t2m.astype(np.float32), dims=(LEAD, "member", "y", "x"),
                      coords={LEAD: leads, "member": np.arange(members), "y": y, "x": x, "init_time": init},
                      name=T2M, attrs=dict(T2M_ATTRS))
    ds = xr.Dataset({
        T2M: da,
        "t2m_mean": da.mean("member").assign_attrs(T2M_ATTRS | {"long_name": "ensemble mean 2 metre temperature"}),
        "t2m_spread": da.std("member", ddof=1).assign_attrs(units="K", long_name="ensemble standard deviation"),
    }).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    ds.attrs = {"Conventions": "CF-1.8", "tile": tile, "title": "FAKE prediction (test fixture): truth + noise",
                "checkpoint": "none (tm_weather.verify.fake: truth plus noise, not a model)"}
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path)
    return path
