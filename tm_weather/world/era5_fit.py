"""Fit the T2M statistics the world uses on the real ERA5 fixture (hourly 2 m temperature, UK, 1-21 March 2019).

`fit_era5(path) -> Era5Fit` reproduces the fitted numbers frozen in `tm_weather.world.constants.ERA5_FIT`
(tests/test_world.py checks they agree). Grid points are split into land-like and sea-like by their mean diurnal
range (two-means on the range, ERA5's sea points have a damped cycle), which gives the water damping ratio from
real data rather than from the literature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

#: Day of year of the annual T2M minimum in the northern mid-latitudes (about 20 January; e.g. Legates and
#: Willmott 1990 climatology): used to turn the fitted March warming rate into an annual amplitude.
ANNUAL_MINIMUM_DOY = 20.0
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Era5Fit:
    """Numbers fitted on an hourly T2M grid `(time, latitude, longitude)` holding whole UTC days.

    mean_lat: degrees N of the grid's centre; mean_t2m: K, mean over all points and hours;
    march_mid_doy: day of year at the middle of the record;
    warming_rate: K/day, slope of the domain-mean daily mean; annual_amplitude: K, the seasonal half-range that
    gives that slope at `march_mid_doy` for a sinusoid with its minimum at `ANNUAL_MINIMUM_DOY`;
    diurnal_shape: (24,), mean land diurnal anomaly by local solar hour 0..23, scaled to max - min = 1;
    land_diurnal_range, sea_diurnal_range: K, mean max - min of the mean diurnal cycle over land / sea points;
    ar1_daily: lag-1 autocorrelation of daily-mean anomalies (each point's linear trend removed);
    sd_daily: K, standard deviation of those anomalies;
    corr_length_km: e-folding distance of the correlation of daily-mean anomalies between points.
    """

    mean_lat: float
    mean_t2m: float
    march_mid_doy: float
    warming_rate: float
    annual_amplitude: float
    diurnal_shape: tuple[float, ...]
    land_diurnal_range: float
    sea_diurnal_range: float
    ar1_daily: float
    sd_daily: float
    corr_length_km: float

    @property
    def water_damping(self) -> float:
        """Sea / land diurnal range ratio (unitless)."""
        return self.sea_diurnal_range / self.land_diurnal_range


def fit_era5(path: str | Path) -> Era5Fit:
    """Fit `Era5Fit` on a GRIB file of hourly ERA5 `2t` (read with cfgrib, no index file written)."""
    da = xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": ""})["t2m"].load()
    t = da.values.astype(np.float64)  # (time, lat, lon), K
    lat, lon = da.latitude.values, da.longitude.values
    days = t.shape[0] // 24
    by_day = t[: days * 24].reshape(days, 24, *t.shape[1:])  # (day, utc hour, lat, lon)
    daily = by_day.mean(1)  # (day, lat, lon)

    cycle = by_day.mean(0) - daily.mean(0)  # (utc hour, lat, lon): mean diurnal anomaly
    ranges = cycle.max(0) - cycle.min(0)
    land = _two_means_upper(ranges.ravel()).reshape(ranges.shape)
    local = _to_local_solar_hours(cycle, lon)  # (local hour, lat, lon)
    shape = local[:, land].mean(1)
    shape = shape / (shape.max() - shape.min())

    d = np.arange(days, dtype=np.float64)
    rate = float(np.polyfit(d, daily.mean((1, 2)), 1)[0])
    mid_doy = float(da.time.dt.dayofyear.values.mean())
    phase = 2 * np.pi * (mid_doy - ANNUAL_MINIMUM_DOY) / DAYS_PER_YEAR
    amplitude = rate / (2 * np.pi / DAYS_PER_YEAR * np.sin(phase))

    flat = daily.reshape(days, -1)
    coef = np.polyfit(d, flat, 1)
    anom = flat - (coef[0][None] * d[:, None] + coef[1][None])  # (day, point)
    ar1 = float(np.mean(np.sum(anom[1:] * anom[:-1], 0) / np.sum(anom * anom, 0)))

    return Era5Fit(
        mean_lat=float(lat.mean()),
        mean_t2m=float(t.mean()),
        march_mid_doy=mid_doy,
        warming_rate=rate,
        annual_amplitude=float(amplitude),
        diurnal_shape=tuple(round(float(v), 4) for v in shape),
        land_diurnal_range=float(ranges[land].mean()),
        sea_diurnal_range=float(ranges[~land].mean()),
        ar1_daily=ar1,
        sd_daily=float(anom.std()),
        corr_length_km=_corr_length_km(anom, lat, lon),
    )


def _two_means_upper(values: np.ndarray) -> np.ndarray:
    """True for the values in the upper of two clusters (1-D two-means, started at the extremes)."""
    lo, hi = values.min(), values.max()
    for _ in range(50):
        upper = np.abs(values - hi) < np.abs(values - lo)
        lo, hi = values[~upper].mean(), values[upper].mean()
    return upper


def _to_local_solar_hours(cycle: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(24 UTC hours, lat, lon) -> (24 local solar hours, lat, lon), interpolating periodically in time."""
    hours = np.arange(24.0)
    out = np.empty_like(cycle)
    for j, lo in enumerate(lon):
        utc = (hours - lo / 15.0) % 24  # the UTC hour at each local hour
        for i in range(cycle.shape[1]):
            out[:, i, j] = np.interp(utc, hours, cycle[:, i, j], period=24)
    return out


def _corr_length_km(anom: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> float:
    """e-folding distance (km) of a least-squares fit corr = exp(-d / L) through the origin in log space,
    over point pairs with positive correlation. `anom`: (day, point) with points in (lat, lon) order."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    y, x = np.radians(glat.ravel()), np.radians(glon.ravel())
    step = max(1, y.size // 300)  # a regular subsample of points keeps the pair count small
    y, x, a = y[::step], x[::step], anom[:, ::step]
    corr = np.corrcoef(a.T)
    cosd = np.sin(y[:, None]) * np.sin(y[None]) + np.cos(y[:, None]) * np.cos(y[None]) * np.cos(x[:, None] - x[None])
    dist = 6371.0 * np.arccos(np.clip(cosd, -1, 1))
    use = (dist > 0) & (corr > 0)
    return float(-np.sum(dist[use] ** 2) / np.sum(dist[use] * np.log(corr[use])))
