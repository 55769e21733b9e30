"""The world's surface: terrain and land cover as random fields of (lat, lon), snow laid over by temperature,
and its aggregation to grid cells (GFS 0.25 deg, truth 2.5 km) by regular sub-sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tm_weather.world import constants as C
from tm_weather.world.fields import WaveField
from tm_weather.world.physics import climate

N_CLASSES = 9  # LULC codes 1..9; arrays index them as code - 1


@dataclass(frozen=True)
class Landscape:
    """Terrain (large + small scale), one random field per static land-cover class, and the snow patchiness."""

    terrain_large: WaveField
    terrain_small: WaveField
    cover: tuple[WaveField, ...]  # one per `C.STATIC_CLASSES`
    snow_patches: WaveField

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Landscape:
        return cls(
            terrain_large=WaveField.draw(rng, **C.TERRAIN_LARGE),
            terrain_small=WaveField.draw(rng, **C.TERRAIN_SMALL),
            cover=tuple(WaveField.draw(rng, **C.COVER_FIELD) for _ in C.STATIC_CLASSES),
            snow_patches=WaveField.draw(rng, **C.SNOW_FIELD),
        )

    def elevation(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Terrain height (m, >= 0) at the points."""
        return np.maximum(C.TERRAIN_BASE_M + self.terrain_large(lat, lon) + self.terrain_small(lat, lon), 0.0)

    def static_class(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """LULC code (uint8) of `C.STATIC_CLASSES`: argmax over classes of log(latitude share) + class field."""
        w = np.clip((np.asarray(lat) - 36.0) / (68.0 - 36.0), 0, 1)
        scores = [
            np.log((1 - w) * s36 + w * s68) + field(lat, lon)
            for s36, s68, field in zip(C.CLASS_SHARES_36N, C.CLASS_SHARES_68N, self.cover)
        ]
        return np.asarray(C.STATIC_CLASSES, dtype=np.uint8)[np.argmax(scores, axis=0)]

    def snowy(self, lat: np.ndarray, lon: np.ndarray, elevation: np.ndarray, doy: np.ndarray) -> np.ndarray:
        """Snow cover (bool, `(day, *points)`) on days of year `doy` `(day,)`: where the day's climate at the
        point's height plus the patchiness field is below `C.SNOW_THRESHOLD_K`."""
        doy = np.asarray(doy, dtype=np.float64).reshape(-1, *[1] * np.ndim(lat))
        local = climate(lat, lon, doy + 0.5) + C.LAPSE_RATE * elevation + self.snow_patches(lat, lon)
        return local < C.SNOW_THRESHOLD_K

    def cover_on(self, lat: np.ndarray, lon: np.ndarray, elevation: np.ndarray, doy: np.ndarray) -> np.ndarray:
        """LULC codes (uint8, `(day, *points)`): the static class, or snow/ice where `snowy`."""
        static = self.static_class(lat, lon)
        return np.where(self.snowy(lat, lon, elevation, doy), np.uint8(C.SNOW), static[None])


@dataclass(frozen=True)
class Cells:
    """Grid cells described by sub-samples. lat, lon: (cell,) centres, degrees; elevation: (cell,) mean terrain
    height, m; fractions: (day, cell, 9) share of each LULC code per world day."""

    lat: np.ndarray
    lon: np.ndarray
    elevation: np.ndarray
    fractions: np.ndarray


def cells(landscape: Landscape, lat: np.ndarray, lon: np.ndarray, size_deg: float, n_sub: int, doy: np.ndarray) -> Cells:
    """Aggregate the landscape over square cells of `size_deg` centred at 1-D `lat`, `lon`, from `n_sub` x `n_sub`
    regularly spaced sub-samples per cell, for the days of year `doy` `(day,)`."""
    offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * size_deg
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    slat = lat[:, None] + dy.ravel()[None]  # (cell, sample)
    slon = lon[:, None] + dx.ravel()[None]
    height = landscape.elevation(slat, slon)
    codes = landscape.cover_on(slat, slon, height, doy)  # (day, cell, sample)
    fractions = np.stack([(codes == c).mean(-1) for c in range(1, N_CLASSES + 1)], axis=-1)
    return Cells(lat=lat, lon=lon, elevation=height.mean(-1), fractions=fractions)
