"""The world's surface: terrain and land cover as random fields of (lat, lon) shaped by each region's climate
class, snow laid over by temperature, and the `Surface` of a tile's 40 m truth cells or of GFS's 0.25 deg cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

from tm_weather.climatology import Climatology
from tm_weather.world import constants as C
from tm_weather.world.fields import WaveField
from tm_weather.world.physics import Surface

N_CLASSES = 9  # LULC codes 1..9; arrays index them as code - 1


@dataclass(frozen=True)
class Region:
    """Where tile locations are drawn: centre (degrees), `height` of its surroundings (m: the climate's reference
    height), its climate class (`constants.CLIMATE_CLASSES`) and split."""

    name: str
    lat: float
    lon: float
    height: float
    climate: str
    split: str

    @property
    def relief_m(self) -> float:
        return C.CLIMATE_CLASSES[self.climate]["relief_m"]

    @property
    def shares(self) -> tuple[float, ...]:
        return C.CLIMATE_CLASSES[self.climate]["shares"]

    @property
    def aridity(self) -> float:
        return C.ARIDITY_FACTOR.get(self.climate, 1.0)


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
            terrain_small=WaveField.draw(rng, 1.0, C.TERRAIN_SMALL_KM, hurst=1.0),
            cover=tuple(WaveField.draw(rng, **C.COVER_FIELD) for _ in C.STATIC_CLASSES),
            snow_patches=WaveField.draw(rng, **C.SNOW_FIELD),
        )

    def reference(self, region: Region, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The large-scale height (m) the climatology belongs to: the region's height + the large-scale terrain."""
        return region.height + _values(self.terrain_large, lat, lon)

    def elevation(self, region: Region, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Terrain height (m, > 0) at the points: reference + the region's small-scale relief, below
        `C.TERRAIN_FLOOR_M` pressed smoothly towards 0 (lowlands keep their relief instead of a flat 0)."""
        h = self.reference(region, lat, lon) + region.relief_m * _values(self.terrain_small, lat, lon)
        floor = C.TERRAIN_FLOOR_M
        return np.where(h > floor, h, floor * np.exp((np.minimum(h, floor) - floor) / floor))

    def static_class(self, region: Region, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """LULC code (uint8) of `C.STATIC_CLASSES`: argmax over classes of log(region's share) + class field."""
        scores = [np.log(share) + _values(field, lat, lon) for share, field in zip(region.shares, self.cover)]
        return np.asarray(C.STATIC_CLASSES, dtype=np.uint8)[np.argmax(scores, axis=0)]

    def snowy(self, clim: Climatology, region: Region, lat, lon, above: np.ndarray, days: np.ndarray,
              patches: np.ndarray) -> np.ndarray:
        """Snow cover (bool, `(day, *points)`) on `days` `(day,)` datetime64[D]: where the day's climate at
        the region's centre, lapsed to `above` (m above the reference), plus `patches` (the snow field at the
        points, K) is below `C.SNOW_THRESHOLD_K`."""
        noon = np.asarray(days, dtype="datetime64[h]") + np.timedelta64(12, "h")
        climate = clim(np.asarray(lat), np.asarray(lon), noon.reshape(-1, *[1] * np.ndim(above)))
        return climate + C.LAPSE_RATE * above + patches < C.SNOW_THRESHOLD_K


def _values(field: WaveField, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """`field` at points; on a 2-D grid of points (a tile's samples) through the fast `WaveField.on_grid`."""
    return field.on_grid(lat, lon) if np.ndim(lat) == 2 and min(np.shape(lat)) > 1 else field(lat, lon)


def one_hot_shares(codes: np.ndarray, block: int) -> np.ndarray:
    """LULC codes `(..., Y, X)` -> class shares `(..., 9, Y / block, X / block)` over `block` x `block` blocks."""
    *lead, ny, nx = codes.shape
    hot = np.stack([(codes == c) for c in range(1, N_CLASSES + 1)], axis=-3).astype(np.float32)
    return hot.reshape(*lead, N_CLASSES, ny // block, block, nx // block, block).mean(axis=(-3, -1))


def truth_surface(height: np.ndarray, reference: np.ndarray, codes: np.ndarray, snow: np.ndarray, block: int,
                  pixel_m: float) -> Surface:
    """The `Surface` of truth cells from 10 m samples: `height`, `reference` `(Y, X)` m; `codes` `(Y, X)` static
    LULC; `snow` `(day, Y, X)` bool per day of the visit; cells of `block` x `block` samples of `pixel_m` metres.
    Land-cover shares and the pooling index are mixed by the air (`C.MIXING_M`); the coast weight is the land
    share times the water share smoothed over `C.COAST_SCALE_M`. Fields are `(cell,)` (row-major), snow
    `(day, cell)`."""
    cell_m = block * pixel_m
    mix = C.MIXING_M / cell_m
    shares = one_hot_shares(codes, block)  # (9, y, x)
    ny, nx = height.shape[0] // block, height.shape[1] // block

    def block_mean(a: np.ndarray) -> np.ndarray:
        return a.reshape(*a.shape[:-2], ny, block, nx, block).mean(axis=(-3, -1))

    def smooth(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, mix, mode="nearest").ravel()

    surroundings = gaussian_filter(height, C.POOL_SURROUNDINGS_M / pixel_m, mode="nearest")
    pool = block_mean(np.clip((surroundings - height) / C.POOL_DEPTH_M, 0.0, 1.0))
    water = shares[C.WATER - 1] + shares[C.FLOODED - 1]
    near_water = gaussian_filter(water, C.COAST_SCALE_M / cell_m, mode="nearest")
    return Surface(
        water=smooth(water),
        trees=smooth(shares[C.TREES - 1]),
        built=smooth(shares[C.BUILT - 1]),
        bare=smooth(shares[C.BARE - 1]),
        coast=smooth((1 - water) * near_water),
        pool=smooth(pool),
        snow=np.stack([smooth(s) for s in block_mean(snow.astype(np.float32))]),
        height=(block_mean(height) - block_mean(reference)).ravel(),
    )


@dataclass(frozen=True)
class GridCells:
    """GFS's cells: `surface` (shares from sub-samples, no pooling, no coast term of its own), `orography` the
    model's smoothed height (m), `reference` the climate's reference height at the cell centres (m)."""

    surface: Surface
    orography: np.ndarray
    reference: np.ndarray


def grid_cells(landscape: Landscape, clim: Climatology, region: Region, lat: np.ndarray, lon: np.ndarray, shape: tuple[int, int],
               days: np.ndarray) -> GridCells:
    """GFS's view of `region` on cells of `C.GFS_RESOLUTION_DEG` centred at `(ny * nx,)` `lat`, `lon` (grid
    `shape`), from `C.GFS_SUBSAMPLES`^2 regular sub-samples per cell, with snow on `days`."""
    n_sub, size = C.GFS_SUBSAMPLES, C.GFS_RESOLUTION_DEG
    offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * size
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    slat, slon = lat[:, None] + dy.ravel()[None], lon[:, None] + dx.ravel()[None]  # (cell, sample)
    samples = slat.shape  # evaluated as 1-D points: `_values` reads a 2-D array as a regular grid
    height = landscape.elevation(region, slat.ravel(), slon.ravel()).reshape(samples)
    reference = landscape.reference(region, lat, lon)
    codes = landscape.static_class(region, slat.ravel(), slon.ravel()).reshape(samples)
    snow = landscape.snowy(clim, region, lat[:, None], lon[:, None], height - reference[:, None], days,
                           landscape.snow_patches(slat.ravel(), slon.ravel()).reshape(samples))
    share = lambda c, a=codes: (a == c).mean(-1)  # noqa: E731
    orography = uniform_filter(height.mean(-1).reshape(shape), C.GFS_OROGRAPHY_BOX, mode="nearest").ravel()
    surface = Surface(
        water=share(C.WATER) + share(C.FLOODED), trees=share(C.TREES), built=share(C.BUILT), bare=share(C.BARE),
        coast=np.zeros(lat.shape), pool=np.zeros(lat.shape), snow=snow.mean(-1), height=orography - reference,
    )
    return GridCells(surface, orography, reference)
