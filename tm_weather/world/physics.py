"""The world's 2 m temperature: a sum of named physical terms, each a function of place, time and surface.

    t2m = climate + diurnal + synoptic + elevation + water + urban + forest + snow + noise      (K)

Sizes and sources of every number: `tm_weather.world.constants` (and the table in docs/world.md).
Times are UTC hours; local solar hour = UTC hour + lon / 15.
"""

from __future__ import annotations

import numpy as np

from tm_weather.world import constants as C
from tm_weather.world.era5_fit import ANNUAL_MINIMUM_DOY, DAYS_PER_YEAR

#: The terms, in the order they are reported.
TERMS = ("climate", "diurnal", "synoptic", "elevation", "water", "urban", "forest", "snow", "noise")

_SHAPE = np.asarray(C.ERA5_FIT.diurnal_shape)


def annual_mean(lat: np.ndarray) -> np.ndarray:
    """Annual-mean sea-level T2M (K): EQUATOR - drop * sin^2(lat), the drop fitted so that the fit's latitude
    reproduces ERA5's March mean under the seasonal cycle of `seasonal`."""
    return C.EQUATOR_ANNUAL_MEAN_K - _LAT_DROP * np.sin(np.radians(lat)) ** 2


def annual_amplitude(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Seasonal half-range (K): the fitted one scaled by sin|lat| relative to the fit and by continentality."""
    lat_factor = np.abs(np.sin(np.radians(lat))) / np.sin(np.radians(C.ERA5_FIT.mean_lat))
    return C.ERA5_FIT.annual_amplitude * lat_factor * (1 + C.CONTINENTALITY_PER_DEG * (np.asarray(lon) - C.FIT_LON))


def seasonal_phase(doy: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """-cos of the annual cycle: -1 at the annual minimum (`ANNUAL_MINIMUM_DOY`, half a year later south)."""
    shift = np.where(np.asarray(lat) < 0, DAYS_PER_YEAR / 2, 0.0)
    return -np.cos(2 * np.pi * (np.asarray(doy) - ANNUAL_MINIMUM_DOY - shift) / DAYS_PER_YEAR)


def climate(lat: np.ndarray, lon: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Sea-level daily-mean climate T2M (K) at fractional day of year `doy` (broadcasting)."""
    return annual_mean(lat) + annual_amplitude(lat, lon) * seasonal_phase(doy, lat)


def diurnal_range(lat: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Land diurnal range (K): the fitted one times the noon sun height relative to the fit's (clipped)."""
    factor = _noon_sun(lat, doy) / _noon_sun(C.ERA5_FIT.mean_lat, C.ERA5_FIT.march_mid_doy)
    return C.ERA5_FIT.land_diurnal_range * np.clip(factor, *C.DIURNAL_FACTOR_RANGE)


def diurnal_shape(local_hour: np.ndarray) -> np.ndarray:
    """The fitted diurnal anomaly shape (max - min = 1) at local solar hours, periodic."""
    return np.interp(np.asarray(local_hour) % 24, np.arange(25.0), np.append(_SHAPE, _SHAPE[0]))


def day_weight(local_hour: np.ndarray) -> np.ndarray:
    """0..1: the warm part of the diurnal shape, 1 at its peak (afternoon)."""
    return np.clip(diurnal_shape(local_hour), 0, None) / _SHAPE.max()


def night_weight(local_hour: np.ndarray) -> np.ndarray:
    """0..1: the cold part of the diurnal shape, 1 at its trough (before sunrise)."""
    return np.clip(-diurnal_shape(local_hour), 0, None) / -_SHAPE.min()


def t2m_terms(
    times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    elevation: np.ndarray,
    fractions: np.ndarray,
    synoptic: np.ndarray,
    noise: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each term of `TERMS` (K), `(time, point)`.

    times: (time,) UTC datetime64; lat, lon, elevation: (point,) degrees, degrees, m; fractions: (time, point, 9)
    land-cover shares of classes 1..9 (index = class - 1); synoptic: (time, point) K; noise: (time, point) K
    or None (zeros: GFS and other grid-scale estimates carry no unresolved noise).
    """
    t = np.asarray(times, dtype="datetime64[h]")
    hour = (t - t.astype("datetime64[D]")).astype(np.float64)[:, None]
    doy = (t.astype("datetime64[D]") - t.astype("datetime64[Y]")).astype(np.float64)[:, None] + 1 + hour / 24
    local = hour + np.asarray(lon)[None] / 15.0
    diurnal = diurnal_range(lat[None], doy) * diurnal_shape(local)
    share = {c: fractions[..., c - 1] for c in (C.WATER, C.TREES, C.BUILT, C.SNOW)}
    lag = climate(lat[None], lon[None], doy - C.WATER_LAG_DAYS) - climate(lat[None], lon[None], doy)
    return {
        "climate": climate(lat[None], lon[None], doy),
        "diurnal": diurnal,
        "synoptic": synoptic,
        "elevation": C.LAPSE_RATE * np.broadcast_to(elevation[None], diurnal.shape),
        "water": share[C.WATER] * ((C.WATER_DIURNAL_RATIO - 1) * diurnal + C.WATER_LAG_WEIGHT * lag),
        "urban": share[C.BUILT] * C.URBAN_NIGHT_K * night_weight(local),
        "forest": share[C.TREES] * (C.FOREST_DAY_K * day_weight(local) + C.FOREST_NIGHT_K * night_weight(local)),
        "snow": share[C.SNOW] * C.SNOW_K,
        "noise": np.zeros(diurnal.shape) if noise is None else noise,
    }


def _noon_sun(lat: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Sine of the noon solar elevation (cos of noon zenith), floored at 0.05."""
    declination = 23.44 * np.sin(2 * np.pi * (np.asarray(doy) - 81) / 365.25)
    return np.maximum(np.cos(np.radians(np.asarray(lat) - declination)), 0.05)


def _fitted_lat_drop() -> float:
    """The sin^2(lat) drop that puts the fit latitude's climate at ERA5's mean on the fit's mid-record day."""
    lat, doy = C.ERA5_FIT.mean_lat, C.ERA5_FIT.march_mid_doy
    annual = C.ERA5_FIT.mean_t2m - annual_amplitude(lat, C.FIT_LON) * seasonal_phase(doy, lat)
    return float((C.EQUATOR_ANNUAL_MEAN_K - annual) / np.sin(np.radians(lat)) ** 2)


_LAT_DROP = _fitted_lat_drop()
