"""`tm-weather verify` end to end on the tiny benchmark world, with a FAKE prediction (the world's truth plus
noise, `tm_weather.verify.fake`: a test fixture standing in for `tm-weather generate` until the model exists),
and its bad-input errors; plus the truth adapters and the prediction reader on small inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer

from tm_weather.catalog import load_catalog
from tm_weather.cli import main
from tm_weather.errors import EXIT_INPUT, EXIT_OK, InputError
from tm_weather.ingest import ingest
from tm_weather.series import regrid_to_tile
from tm_weather.sources import open_source
from tm_weather.sources.sentinel2 import read_dem
from tm_weather.metrics import block_means
from tm_weather.verify.baselines import GFSRuns, TileCase
from tm_weather.verify.fake import write_fake_prediction
from tm_weather.verify.prediction import read_prediction, read_predictions
from tm_weather.verify.truth import match_times, open_truth
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS

LEADS_H = [0, 6, 12]
SYSTEMS = {"model", "persistence", "GFS 12 h", "GFS 12 h + lapse rate", "linear regression on S-2",
           "other"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny world with its test tile's truth ingested (3 days: too few for a climatology), two fake predictions for the
    test tile ("model" and a worse "other" used as a --baseline), and one verify run."""
    root = tmp_path_factory.mktemp("world")
    build_world(root, PRESETS["tiny"], seed=0)
    catalog = load_catalog(root / CATALOG)
    tile = catalog.splits["test"].tiles[0]
    ingest(catalog, [f"truth_{tile}"], progress=False)
    case = TileCase.train(catalog, tile, np.array([0], dtype="timedelta64[ns]"))
    truth = open_truth("truth_{tile}", catalog, tile)
    pred = write_fake_prediction(root / "pred" / f"{tile}.nc", truth, tile, case.grid, case.valid[0], LEADS_H, 4, 1)
    other = write_fake_prediction(root / "other" / f"{tile}.nc", truth, tile, case.grid, case.valid[0], LEADS_H, 4, 2,
                                  bias_k=1.5)
    out = root / "report"
    argv = ["verify", "--pred", str(pred), "--truth", "truth_{tile}", "--catalog", str(root / CATALOG),
            "--out", str(out), "--baseline", f"other={other}"]
    assert main(argv) == EXIT_OK
    return dict(root=root, catalog=catalog, tile=tile, pred=pred, out=out, case=case)


def test_report_has_every_section_and_is_self_contained(world):
    page = (world["out"] / "report.html").read_text()
    for section in ("Scorecard", "RMSE and bias against lead time", "Bias and error maps",
                    "Rank histogram and spread-skill", "Example tiles", "Breakdowns"):
        assert f"<h2>{section}</h2>" in page
    assert page.count('src="data:image/png;base64,') == 4  # lead, maps, ensemble, examples
    assert "<script" not in page and 'src="http' not in page
    for baseline in SYSTEMS - {"model"}:
        assert f"<th>vs {baseline}</th>" in page


def test_metrics_tables_cover_every_system_breakdown_and_metric(world):
    table = pd.read_csv(world["out"] / "metrics.csv")
    assert set(table["system"]) == SYSTEMS
    assert {"all", "lead time (h)", "tile", "land cover", "hour of day (UTC)", "season"} <= set(table["breakdown"])
    model = table[(table["system"] == "model") & (table["breakdown"] == "all")].set_index("metric")["value"]
    # no ACC: it needs the climatology, which 3 days of store series cannot give
    assert set(model.index) == {"RMSE", "MAE", "bias", "CRPS", "CRPS (fair)", "spread-skill"}
    leads = table[(table["breakdown"] == "lead time (h)") & (table["metric"] == "RMSE") & (table["system"] == "model")]
    assert sorted(leads["group"].astype(int)) == LEADS_H
    doc = json.loads((world["out"] / "metrics.json").read_text())
    assert len(doc["metrics"]) == len(table) and list(doc["unavailable_baselines"]) == ["climatology"]
    assert "spanning 300 days" in doc["unavailable_baselines"]["climatology"]
    assert sum(doc["rank_histogram"]) == pytest.approx(1.0)
    card = {(r["baseline"], r["metric"]): r for r in doc["scorecard"]}
    assert card[("other", "bias")]["relative"] < 0  # the model's 0.3 K bias against the other's 1.5 K
    assert card[("GFS 12 h", "RMSE")]["relative"] < 0  # truth plus noise beats GFS


def test_model_rmse_and_bias_equal_a_direct_computation(world):
    """The report's model RMSE and bias = numpy over the 16 x 16 pixel blocks of the ensemble mean against the
    truth regridded onto those blocks."""
    pred = read_prediction(world["pred"])
    truth = open_truth("truth_{tile}", world["catalog"], world["tile"])
    observed = truth.on_tile(world["tile"], pred.grid, pred.valid_time)
    err = block_means(pred.t2m.mean("member").values) - observed.obs.values
    table = pd.read_csv(world["out"] / "metrics.csv")
    model = table[(table["system"] == "model") & (table["breakdown"] == "all")].set_index("metric")["value"]
    assert model["RMSE"] == pytest.approx(np.sqrt(np.nanmean(err**2)), rel=1e-5)
    assert model["bias"] == pytest.approx(np.nanmean(err), rel=1e-5, abs=1e-6)


def _run(world, tmp_path, pred: Path, truth: str = "truth_{tile}") -> int:
    return main(["verify", "--pred", str(pred), "--truth", truth, "--catalog", str(world["root"] / CATALOG),
                 "--out", str(tmp_path / "out")])


def _edited(world, tmp_path, edit) -> Path:
    with xr.open_dataset(world["pred"]) as ds:
        ds = edit(ds.load())
    path = tmp_path / f"{world['tile']}.nc"
    ds.to_netcdf(path)
    return path


def test_wrong_units_fail_clearly(world, tmp_path, capsys):
    def to_celsius(ds):
        ds["t2m"] = (ds["t2m"] - 273.15).assign_attrs(units="degC")
        return ds

    assert _run(world, tmp_path, _edited(world, tmp_path, to_celsius)) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "t2m units: expected 'K' (kelvin), found 'degC'" in err and world["tile"] in err
    assert not (tmp_path / "out").exists()


def test_mismatched_times_fail_clearly(world, tmp_path, capsys):
    def later(ds):
        return ds.assign_coords(init_time=ds["init_time"] + np.timedelta64(30, "D"))

    assert _run(world, tmp_path, _edited(world, tmp_path, later)) == EXIT_INPUT
    assert "(mismatched times)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_spatial_overlap_fails_clearly(world, tmp_path, capsys):
    other = next(t.name for t in world["catalog"].tiles if t.name != world["tile"])
    assert _run(world, tmp_path, world["pred"], truth=f"truth_{other}") == EXIT_INPUT
    assert "no spatial overlap" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_station_truth_samples_the_tile_at_the_station(world):
    """ISD truth: the station inside the tile, its reports at the matched hours, and the field sampled there
    (nearest: the pixel under the station)."""
    pred = read_prediction(world["pred"])
    truth = open_truth("isd", world["catalog"], world["tile"], method="nearest")
    observed = truth.on_tile(world["tile"], pred.grid, pred.valid_time)
    assert observed.obs.sizes["station"] == 1
    reports = truth.reports(pred.valid_time)
    station = str(observed.obs["station"].values[0])
    np.testing.assert_array_equal(observed.obs.values[:, 0], reports.sel(station=station).values)
    sampled = observed.sample(pred.t2m)
    lat, lon = float(reports["latitude"].sel(station=station)), float(reports["longitude"].sel(station=station))
    x, y = Transformer.from_crs("EPSG:4326", pred.grid.crs, always_xy=True).transform(lon, lat)
    pixel = pred.t2m.sel(x=x, y=y, method="nearest")
    np.testing.assert_allclose(sampled.isel(station=0).values, pixel.values)


def test_gfs_run_nearest_12_hours():
    class Source:
        fxx, hours = list(range(13)), [0, 6, 12, 18]

    runs = GFSRuns(Source())
    t = np.datetime64("2023-02-12T10:00", "ns")
    assert runs.run_for(t) == (t - np.timedelta64(10, "h"), 10)
    assert runs.run_for(t + np.timedelta64(2, "h")) == (t - np.timedelta64(10, "h"), 12)
    Source.fxx = [0, 1]
    assert runs.run_for(t) is None


def _generate_layout(world, tmp_path, lead: int, init_attr: bool) -> Path:
    """One lead of the fake prediction rewritten in `tm-weather generate`'s layout: t2m (member, y, x), a scalar
    `time`, the tile named only through the `input_s2` attribute; optionally `init_time` as an attribute."""
    def one_time(ds):
        first = ds.sel(lead_time=np.timedelta64(lead, "h"))
        out = first.drop_vars(["lead_time", "init_time"]).assign_coords(time=first["valid_time"].values)
        out.attrs = {"input_s2": f"S2L2A/{world['tile']}.tif", "checkpoint": "x.ckpt"}
        if init_attr:
            out.attrs["init_time"] = str(first["init_time"].values)[:19] + "Z"
        return out

    with xr.open_dataset(world["pred"]) as ds:
        ds = one_time(ds.load().assign_coords(valid_time=ds["init_time"] + ds["lead_time"]))
    path = tmp_path / f"generated_f{lead:02d}.nc"
    ds.to_netcdf(path)
    return path


def test_generate_layout_reads_as_lead_zero_and_joins_by_init_time(world, tmp_path):
    (pred,) = read_predictions([_generate_layout(world, tmp_path, 0, init_attr=False)])
    assert pred.tile == world["tile"] and pred.t2m.dims == ("lead_time", "member", "y", "x")
    assert pred.t2m["lead_time"].values.tolist() == [0]
    assert pred.valid_time[0] == world["case"].valid[0]
    (joined,) = read_predictions([_generate_layout(world, tmp_path, h, init_attr=True) for h in (6, 0)])
    assert (joined.t2m["lead_time"].values / np.timedelta64(1, "h")).tolist() == [0, 6]
    np.testing.assert_array_equal(joined.t2m.isel(lead_time=1), read_prediction(world["pred"]).t2m.isel(lead_time=1))
    with pytest.raises(InputError, match="distinct lead times"):
        read_predictions([_generate_layout(world, tmp_path, h, init_attr=False) for h in (0, 6)])


def test_store_and_gfs_analysis_truths_agree_with_the_world_truth(world):
    """`store:NAME` (fields ingested onto the tile, block-averaged) equals the world's truth regridded straight
    onto the blocks to a few mK; the GFS analysis (a `gfs_analysis` source at its cycle hours) is within the
    world's GFS analysis error of it."""
    case, catalog, tile = world["case"], world["catalog"], world["tile"]
    direct = open_truth("truth_{tile}", catalog, tile)
    stored = open_truth(f"store:truth_{tile}", catalog, tile).on_tile(tile, case.grid, case.valid).obs
    np.testing.assert_allclose(stored, direct.on_tile(tile, case.grid, case.valid).obs, atol=0.01)
    cycles = case.valid.astype("datetime64[D]").astype("datetime64[ns]") + np.array([6, 12], dtype="timedelta64[h]")
    gfs = open_truth("gfs_analysis", catalog, tile).on_tile(tile, case.grid, cycles).obs
    assert gfs.shape == (2, *stored.shape[1:]) and np.isfinite(gfs).all()
    assert float(np.abs(gfs - direct.on_tile(tile, case.grid, cycles).obs).max()) < 4.0


def test_lapse_rate_correction_is_minus_6_5_k_per_km_of_dem_above_gfs_orography(world):
    catalog, case = world["catalog"], world["case"]
    runs = GFSRuns(open_source("gfs", catalog.sources["gfs"], catalog))
    plain, lapse = runs.field(case, lapse=False), runs.field(case, lapse=True)
    dem = read_dem(case.entry.dem, case.grid).values
    init, _ = runs.run_for(case.valid[0])
    orog = regrid_to_tile(runs.orography(init), case.grid.crs, case.grid.transform, case.grid.shape).values
    np.testing.assert_allclose((lapse - plain).values[0], -0.0065 * (dem - orog), atol=1e-3)
    assert 0 < float(orog.mean()) < 3000 and np.isfinite(plain).all()


def test_match_times_nearest_within_30_minutes():
    offered = np.array(["2023-02-12T09:00", "2023-02-12T10:00"], dtype="datetime64[ns]")
    wanted = np.array(["2023-02-12T09:29", "2023-02-12T09:31", "2023-02-12T10:31"], dtype="datetime64[ns]")
    got = match_times(wanted, offered, "x", missing="nan")
    np.testing.assert_array_equal(got[:2], offered)
    assert np.isnat(got[2])
    with pytest.raises(InputError, match="mismatched times"):
        match_times(wanted, offered, "x")


def test_climatology_features_recover_a_year_of_hourly_climate():
    """A year of hourly values made of a daily cycle and an annual harmonic is fitted exactly by the
    climatology's least squares, and evaluates correctly at other times."""
    from tm_weather.verify.baselines import _climate_features

    times = np.arange("2021-01-01T00", "2022-01-01T00", dtype="datetime64[h]").astype("datetime64[ns]")
    hour_means = 280 + 4 * np.sin(np.arange(24) / 24 * 2 * np.pi)

    def climate(t):
        f = _climate_features(t)
        return f[:, :24] @ hour_means + 8 * f[:, 24] - 3 * f[:, 25]

    coef, *_ = np.linalg.lstsq(_climate_features(times), climate(times), rcond=None)
    later = np.array(["2023-11-14T08:00", "2023-07-01T15:00"], dtype="datetime64[ns]")
    np.testing.assert_allclose(_climate_features(later) @ coef, climate(later), atol=1e-6)
