"""`tm_weather.climatology`: the packaged ERA5 monthly climatology, smooth in time, and its bad-input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tm_weather.climatology import MID_MONTH_DOY, PACKAGED, Climatology, month_weights, monthly_mean
from tm_weather.errors import InputError

FINE = Path(__file__).resolve().parents[2] / "shared" / "data" / "climatology" / "era5_t2m_monthly_climatology_2016_2025_0p25.nc"


def mid_month(month: int, year: int = 2021) -> np.datetime64:
    return np.datetime64(f"{year}-01-01T00") + np.timedelta64(int(round((MID_MONTH_DOY[month - 1] - 1) * 24)), "h")


def test_mid_month_gives_the_months_mean_at_grid_points_and_time_is_smooth():
    clim = Climatology.load()
    with xr.open_dataset(PACKAGED) as ds:
        stored = ds["t2m"].sel(latitude=60.0, longitude=30.0).values  # (12,) K
    got = np.array([float(monthly_mean(60.0, 30.0, mid_month(m))) for m in range(1, 13)])
    np.testing.assert_allclose(got, stored, atol=0.01)  # mid-month rounded to the hour
    hours = np.datetime64("2021-01-01T00") + np.arange(0, 365 * 24, 6).astype("timedelta64[h]")
    series = clim(np.full(hours.shape, 60.0), 30.0, hours)
    assert np.abs(np.diff(series)).max() < 0.2 and np.abs(np.diff(series, 2)).max() < 0.01  # no jumps, no kinks
    np.testing.assert_allclose(month_weights(hours).sum(-1), 1.0, atol=1e-9)


def test_months_are_the_stored_means_at_grid_points_bilinear_between_and_broadcast():
    clim = Climatology.load()
    with xr.open_dataset(PACKAGED) as ds:
        stored = ds["t2m"].sel(latitude=[60.0, 59.5], longitude=[30.0, 30.5]).transpose("month", "latitude", "longitude").values
    np.testing.assert_allclose(clim.months(60.0, 30.0), stored[:, 0, 0], atol=1e-4)
    np.testing.assert_allclose(clim.months(59.75, 30.25), stored.mean((1, 2)), atol=1e-3)  # the cell's centre
    months = clim.months(np.array([[55.0], [-35.0]]), np.array([20.0, 21.0, 22.0]))
    assert months.shape == (12, 2, 3) and clim.months(0.0, 0.0).shape == (12,)
    np.testing.assert_allclose(clim(60.0, 30.0, mid_month(4)), clim.months(60.0, 30.0)[3], atol=0.01)


def test_broadcasting_and_the_seasons_of_both_hemispheres():
    lat = np.array([[55.0], [-35.0]])
    t = np.array(["2021-01-15", "2021-07-15"], dtype="datetime64[s]")
    out = monthly_mean(lat, 20.0, t)
    assert out.shape == (2, 2)
    assert out[0, 1] - out[0, 0] > 10 and out[1, 0] - out[1, 1] > 4  # July warm north, January warm south


@pytest.mark.skipif(not FINE.exists(), reason="the 0.25 deg climatology is outside this checkout")
def test_packaged_copy_stays_close_to_the_quarter_degree_original():
    fine, coarse = Climatology.load(FINE), Climatology.load()
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-60, 70, 2000), rng.uniform(-180, 180, 2000)
    t = mid_month(4)
    assert np.sqrt(np.mean((coarse(lat, lon, t) - fine(lat, lon, t)) ** 2)) < 0.5
    # PROVENANCE.md: Hudson Bay lowlands in January, 252.0 K at the nearest 0.25 deg cell of the tile
    assert float(fine(53.0, -85.75, mid_month(1))) == pytest.approx(float(coarse(53.0, -85.75, mid_month(1))), abs=1.0)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as e:
        Climatology.load(tmp_path / "none.nc")
    assert str(tmp_path / "none.nc") in str(e.value)
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(InputError) as e:
        Climatology.load(bad)
    assert str(bad) in str(e.value)
    wrong = tmp_path / "wrong.nc"
    xr.Dataset({"t2m": (("month", "latitude", "longitude"), np.full((12, 3, 4), 280.0))},
               coords={"month": np.arange(1, 13), "latitude": [10.0, 0.0, -10.0], "longitude": [0.0, 90, 180, 270]}).to_netcdf(wrong)
    with pytest.raises(InputError, match="global regular grid"):
        Climatology.load(wrong)
