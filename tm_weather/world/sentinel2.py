"""The world's Sentinel-2 L2A, DEM and LULC GeoTIFFs: 224 x 224 at 10 m in the tile's UTM zone, TerraMind's
layout (`<out>/S2L2A/<tile>.tif`, `DEM/`, `LULC/`), with the `datetime` tag the project's reader takes.

Spectra are real: each pixel of land-cover class c is a pixel of class c from the real TerraMind tiles
(tests/data/sentinel2/terramind-examples), chosen through a smooth random field over that class's pixels sorted
by brightness (vegetated classes: by NDVI, and the season's greenness moves the pick towards green or dormant
pixels), so that texture is spatially coherent. A share of the scenes has clouds (a bright, flat spectrum blended
in), and every scene has an SCL (scene classification) GeoTIFF whose cloud classes the project's reader masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine
from scipy.special import ndtr

from tm_weather.lexicon import S2_BANDS
from tm_weather.shipped import FIXTURES
from tm_weather.sources.sentinel2 import BASELINE_04_OFFSET, BASELINE_04_START
from tm_weather.world import constants as C
from tm_weather.world.fields import WaveField
from tm_weather.world.landscape import N_CLASSES

REAL_TILES = FIXTURES / "sentinel2" / "terramind-examples"
TILE_SIZE = 224
PIXEL_M = 10.0
#: Wavelengths (km) of the field that picks spectra within a class (field texture).
TEXTURE_KM = (0.05, 1.0)
#: assumed: share of scenes with clouds; their cloud cover (fraction of the tile) is uniform in this range; cloud
#: field wavelengths (km).
CLOUDY_SCENE_SHARE = 0.3
CLOUD_COVER = (0.05, 0.6)
CLOUD_KM = (0.3, 6.0)
#: assumed: reflectance of thick cloud, B01..B12 (bright and flat in the visible and near infrared, darker in the
#: short-wave infrared, where water and ice absorb).
CLOUD_REFLECTANCE = (0.50, 0.50, 0.50, 0.50, 0.52, 0.53, 0.54, 0.54, 0.54, 0.40, 0.33, 0.22)
#: SCL classes (ESA Sen2Cor): vegetation, not vegetated, water, cloud medium / high probability, snow; cloud
#: opacity above these is class 8 / 9.
SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_SNOW = 4, 5, 6, 8, 9, 11
CLOUD_MEDIUM_ALPHA, CLOUD_HIGH_ALPHA = 0.15, 0.5
#: Share of a vegetated class's pool (sorted by NDVI) a pick spans; the season's greenness (0..1) moves its start
#: from 0 to 1 - this.
SEASON_SPAN = 0.6


@dataclass(frozen=True)
class ClassSpectra:
    """Real L2A spectra per LULC code: `pools[c - 1]` is `(pixel, 12)` int16 DN (reflectance x 10000), sorted by
    brightness; empty for codes absent from the real tiles."""

    pools: tuple[np.ndarray, ...]

    @classmethod
    def from_real_tiles(cls, root: Path = REAL_TILES) -> ClassSpectra:
        spectra, codes = [], []
        for lulc_path in sorted((root / "LULC").glob("*.tif")):
            with rasterio.open(lulc_path) as src:
                codes.append(src.read(1).ravel())
            with rasterio.open(root / "S2L2A" / lulc_path.name) as src:
                spectra.append(src.read().reshape(len(S2_BANDS), -1).T)
        code, spec = np.concatenate(codes), np.concatenate(spectra)
        pools = []
        for c in range(1, N_CLASSES + 1):
            pool = spec[code == c].astype(np.int64)
            red, nir = pool[:, S2_BANDS.index("B04")], pool[:, S2_BANDS.index("B08")]
            key = (nir - red) / np.maximum(nir + red, 1) if c in C.VEGETATED else pool.sum(1)
            pools.append(spec[code == c][np.argsort(key, kind="stable")])
        return cls(tuple(pools))

    def paint(self, codes: np.ndarray, texture: np.ndarray, greenness: float) -> np.ndarray:
        """`(band, y, x)` int16 DN for LULC `codes` `(y, x)`, picking in each class's pool at quantile
        `texture` `(y, x)` in [0, 1) (vegetated classes: within the NDVI span the season's `greenness` sets)."""
        out = np.zeros((len(S2_BANDS), *codes.shape), dtype=np.int16)
        for c in np.unique(codes):
            pool = self.pools[c - 1]
            if len(pool) == 0:
                raise ValueError(f"no real Sentinel-2 pixels of LULC class {c}")
            where = codes == c
            q = texture[where]
            if c in C.VEGETATED:
                q = greenness * (1 - SEASON_SPAN) + q * SEASON_SPAN
            out[:, where] = pool[(q * len(pool)).astype(np.int64)].T
        return out


@dataclass(frozen=True)
class TileGrid:
    """A 224 x 224, 10 m UTM grid centred near (lat, lon): `crs` (EPSG code string), `transform`; `lat`, `lon`
    `(y, x)` pixel-centre coordinates in degrees."""

    crs: str
    transform: Affine
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def centred(cls, lat: float, lon: float) -> TileGrid:
        zone = int((lon + 180) // 6) + 1
        crs = f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"
        easting, northing = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
        half = TILE_SIZE * PIXEL_M / 2
        left, top = np.round((easting - half) / PIXEL_M) * PIXEL_M, np.round((northing + half) / PIXEL_M) * PIXEL_M
        transform = Affine(PIXEL_M, 0.0, left, 0.0, -PIXEL_M, top)
        centres = (np.arange(TILE_SIZE) + 0.5) * PIXEL_M
        x, y = np.meshgrid(left + centres, top - centres)
        plon, plat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
        return cls(crs, transform, plat, plon)


@dataclass(frozen=True)
class TileRasters:
    """One scene's rasters: s2 `(12, y, x)` int16 DN; dem `(y, x)` int16 m; lulc `(y, x)` uint8 codes (the surface,
    snow included); scl `(y, x)` uint8 scene classes (clouds included)."""

    grid: TileGrid
    s2: np.ndarray
    dem: np.ndarray
    lulc: np.ndarray
    scl: np.ndarray


def draw_texture(lat: np.ndarray, lon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0..1 `(y, x)`: where in each class's pool a pixel picks (a smooth random field through the normal CDF)."""
    return np.minimum(ndtr(WaveField.draw(rng, 1.0, TEXTURE_KM).on_grid(lat, lon)), 1 - 1e-9)


def greenness(climate_k: float) -> float:
    """0..1: how green vegetation is at a monthly-mean temperature (`C.GROWING_SEASON_K`, `C.GREENING_RANGE_K`)."""
    return float(np.clip((climate_k - C.GROWING_SEASON_K) / C.GREENING_RANGE_K, 0.0, 1.0))


def make_scene(grid: TileGrid, height: np.ndarray, ground: np.ndarray, snow: np.ndarray, texture: np.ndarray,
               climate_k: float, spectra: ClassSpectra, rng: np.random.Generator) -> TileRasters:
    """A scene on `grid`: terrain `height` (m), static land cover `ground` (codes), `snow` (bool) where snow lies,
    `texture` (0..1) of the spectra picks, all `(y, x)`; `climate_k` the month's mean temperature (the vegetation's
    season); clouds in `CLOUDY_SCENE_SHARE` of the scenes. Snow-covered pixels of the classes in
    `C.SNOW_VISIBLE_SHARE` are that share their class's spectrum, the rest snow; the LULC and SCL say snow."""
    lulc = np.where(snow, np.uint8(C.SNOW), ground).astype(np.uint8)
    season = greenness(climate_k)
    s2 = spectra.paint(lulc, texture, season)
    visible = np.zeros(lulc.shape, np.float32)
    for code, share in C.SNOW_VISIBLE_SHARE.items():
        visible[snow & (ground == code)] = share
    if visible.any():
        s2 = np.round((1 - visible) * s2 + visible * spectra.paint(ground, texture, season)).astype(np.int16)
    scl = np.full(lulc.shape, SCL_VEGETATION, np.uint8)
    scl[np.isin(lulc, (C.BUILT, C.BARE))] = SCL_NOT_VEGETATED
    scl[lulc == C.WATER] = SCL_WATER
    scl[lulc == C.SNOW] = SCL_SNOW
    if rng.random() < CLOUDY_SCENE_SHARE:
        field = WaveField.draw(rng, 1.0, CLOUD_KM).on_grid(grid.lat, grid.lon)
        edge = np.quantile(field, 1 - rng.uniform(*CLOUD_COVER))
        alpha = np.clip((field - edge) / 0.6, 0.0, 1.0)
        cloud = np.asarray(CLOUD_REFLECTANCE)[:, None, None] * 10000
        s2 = np.round((1 - alpha) * s2 + alpha * cloud).astype(np.int16)
        scl[alpha > CLOUD_MEDIUM_ALPHA] = SCL_CLOUD_MEDIUM
        scl[alpha > CLOUD_HIGH_ALPHA] = SCL_CLOUD_HIGH
    return TileRasters(grid, s2, np.round(height).astype(np.int16), lulc, scl)


def write_tile(tile: TileRasters, out: Path, name: str, acquired: np.datetime64) -> dict[str, Path]:
    """Write `S2L2A/`, `DEM/`, `LULC/` and `SCL/<name>.tif` under `out`; return the paths relative to `out` by kind.

    As ESA's products from processing baseline 04.00 on, L2A acquired from `BASELINE_04_START` carry
    BOA_ADD_OFFSET = -1000 (DN = reflectance x 10000 + 1000), declared in the tag of that name."""
    offset = BASELINE_04_OFFSET if acquired >= BASELINE_04_START else 0
    iso = str(np.datetime64(acquired, "s"))
    tags = {"datetime": iso, "TIFFTAG_DATETIME": iso.replace("-", ":").replace("T", " ")}
    paths = {}
    for kind, data, extra in (
        ("S2L2A", tile.s2 - np.int16(offset), {"BOA_ADD_OFFSET": str(offset)}),
        ("DEM", tile.dem[None], {}),
        ("LULC", tile.lulc[None], {}),
        ("SCL", tile.scl[None], {}),
    ):
        rel = Path(kind) / f"{name}.tif"
        (out / kind).mkdir(parents=True, exist_ok=True)
        profile = dict(
            driver="GTiff", width=TILE_SIZE, height=TILE_SIZE, count=data.shape[0], dtype=data.dtype,
            crs=tile.grid.crs, transform=tile.grid.transform, compress="deflate",
        )
        with rasterio.open(out / rel, "w", **profile) as dst:
            dst.write(data)
            dst.update_tags(**tags, **extra)
            if kind == "S2L2A":
                dst.descriptions = S2_BANDS
        paths[kind] = rel
    return paths
