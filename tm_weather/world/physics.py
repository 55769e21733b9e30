"""The world's 2 m temperature: a sum of named physical terms, each a function of place, time and surface.

    t2m = climate + diurnal + synoptic + elevation + pooling + water + coast + urban + forest + bare + snow + noise

(K). `climate` is ERA5's monthly climatology (`tm_weather.climatology`); the others' sizes and sources are in
`tm_weather.world.constants` (and the table in docs/world.md). Times are UTC hours; local solar hour = UTC hour
+ lon / 15. Every term is evaluated on points: the truth's 40 m cells of a tile, or GFS's 0.25 deg cells (which
see the surface only as cell shares, and have no cold-air pools and no unresolved noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tm_weather.climatology import MID_MONTH_DOY, Climatology, day_of_year
from tm_weather.world import constants as C

#: The terms, in the order they are reported.
TERMS = ("climate", "diurnal", "synoptic", "elevation", "pooling", "water", "coast", "urban", "forest", "bare", "snow",
         "noise")
#: The terms that vary inside a tile (the climate and the synoptic weather are taken at the tile's centre).
WITHIN_TILE_TERMS = tuple(t for t in TERMS if t not in ("climate", "synoptic"))
#: What the surface adds beyond the lapse rate over the DEM: the land-cover, snow and pooling terms that S-2 and
#: the DEM show (the oracle adds these, minus GFS's grid-scale versions).
SURFACE_TERMS = ("pooling", "water", "coast", "urban", "forest", "bare", "snow")

_SHAPE = np.asarray(C.ERA5_FIT.diurnal_shape)


@dataclass(frozen=True)
class Surface:
    """What the terms need of the surface at `(point,)` points: shares (0..1) of water, trees, built area and bare
    ground; `coast`: the coast weight (land near water); `pool`: the cold-air pooling index (0..1); `snow`
    `(day, point)` snow share per day of the visit; `height`: m above the climate's reference height."""

    water: np.ndarray
    trees: np.ndarray
    built: np.ndarray
    bare: np.ndarray
    coast: np.ndarray
    pool: np.ndarray
    snow: np.ndarray
    height: np.ndarray


def diurnal_shape(local_hour: np.ndarray) -> np.ndarray:
    """The fitted diurnal anomaly shape (max - min = 1) at local solar hours, periodic."""
    return np.interp(np.asarray(local_hour) % 24, np.arange(25.0), np.append(_SHAPE, _SHAPE[0]))


def day_weight(local_hour: np.ndarray) -> np.ndarray:
    """0..1: the warm part of the diurnal shape, 1 at its peak (afternoon)."""
    return np.clip(diurnal_shape(local_hour), 0, None) / _SHAPE.max()


def night_weight(local_hour: np.ndarray) -> np.ndarray:
    """0..1: the cold part of the diurnal shape, 1 at its trough (before sunrise)."""
    return np.clip(-diurnal_shape(local_hour), 0, None) / -_SHAPE.min()


def noon_sun(lat: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Sine of the noon solar elevation, floored at 0.05."""
    declination = 23.44 * np.sin(2 * np.pi * (np.asarray(doy) - 81) / 365.25)
    return np.maximum(np.cos(np.radians(np.asarray(lat) - declination)), 0.05)


def annual_half_range(clim: Climatology, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Half the range of the twelve monthly means (K) at the points."""
    mid = np.datetime64("2001-01-01T00") + np.round((MID_MONTH_DOY - 1) * 24).astype("timedelta64[h]")
    months = np.stack([clim(lat, lon, m) for m in mid])
    return (months.max(0) - months.min(0)) / 2


def continentality(clim: Climatology, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The diurnal-range factor of continentality at the points (see `constants.CONTINENTALITY_EXPONENT`)."""
    ratio = annual_half_range(clim, lat, lon) / annual_half_range(clim, np.array(C.ERA5_FIT.mean_lat), np.array(C.FIT_LON))
    return np.clip(ratio**C.CONTINENTALITY_EXPONENT, *C.CONTINENTALITY_CLIP)


def diurnal_range(lat: np.ndarray, doy: np.ndarray, factor: np.ndarray, snow: np.ndarray) -> np.ndarray:
    """Land diurnal range (K): the fitted one x noon-sun factor (clipped) x `factor` (continentality x aridity)
    x the snow damping at snow share `snow` (all broadcasting)."""
    sun = noon_sun(lat, doy) / noon_sun(C.ERA5_FIT.mean_lat, C.ERA5_FIT.march_mid_doy)
    damping = 1 + (C.SNOW_DIURNAL_FACTOR - 1) * snow
    return C.ERA5_FIT.land_diurnal_range * np.clip(sun, *C.DIURNAL_FACTOR_RANGE) * factor * damping


def synoptic_scale(lat: float) -> float:
    """Factor on the fitted day-to-day variability at latitude `lat` (see `constants.SYNOPTIC_LAT_CLIP`)."""
    ratio = abs(np.sin(np.radians(lat))) / np.sin(np.radians(C.ERA5_FIT.mean_lat))
    return float(np.clip(ratio, *C.SYNOPTIC_LAT_CLIP))


def t2m_terms(
    times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    clim: Climatology,
    synoptic: np.ndarray,
    factor: np.ndarray,
    surface: Surface,
    day_index: np.ndarray,
    diurnal_error: float = 0.0,
    snow_k: float = C.SNOW_K,
) -> dict[str, np.ndarray]:
    """Each term of `TERMS` but noise (K), `(time, point)`.

    times: (time,) UTC datetime64; lat, lon: (point,) or (1,) degrees (where the climate, the local hour and the
    sun are taken); synoptic: (time, point or 1) K; factor: (point or 1,) continentality x aridity of the diurnal
    range; surface: at the points; day_index: (time,) index into `surface.snow`'s days; diurnal_error: GFS's
    fractional diurnal amplitude error (0 for the truth); snow_k: K per snow share.
    """
    t = np.asarray(times, dtype="datetime64[h]")
    hour = (t - t.astype("datetime64[D]")).astype(np.float64)[:, None]
    doy = day_of_year(t)[:, None]
    local = hour + np.asarray(lon)[None] / 15.0
    snow = surface.snow[day_index]
    climate = clim(lat[None], lon[None], t[:, None])
    lag = clim(lat[None], lon[None], t[:, None] - np.timedelta64(int(C.WATER_LAG_DAYS * 24), "h")) - climate
    diurnal = diurnal_range(lat[None], doy, factor[None], snow) * (1 + diurnal_error) * diurnal_shape(local)
    # Ice and the snow on it cut a lake off from the air (FLake's ice and snow layers: Mironov et al. 2010, Boreal
    # Env. Res. 15:218-230): where snow lies, water acts as snow-covered land, and its coast loses its breeze.
    damp = ((C.WATER_DIURNAL_RATIO - 1) * diurnal + C.WATER_LAG_WEIGHT * lag) * (1 - snow)
    night, day = night_weight(local), day_weight(local)
    return {
        "climate": np.broadcast_to(climate, diurnal.shape),
        "diurnal": diurnal,
        "synoptic": np.broadcast_to(synoptic, diurnal.shape),
        "elevation": np.broadcast_to(C.LAPSE_RATE * surface.height[None], diurnal.shape),
        "pooling": C.POOL_K * night * surface.pool[None],
        "water": surface.water[None] * damp,
        "coast": C.COAST_WEIGHT * surface.coast[None] * damp,
        "urban": surface.built[None] * C.URBAN_NIGHT_K * night,
        "forest": surface.trees[None] * (C.FOREST_DAY_K * day + C.FOREST_NIGHT_K * night),
        "bare": surface.bare[None] * C.BARE_DAY_K * day,
        "snow": snow * snow_k,
    }
