"""The world's Sentinel-2 L2A, DEM and LULC GeoTIFFs: 224 x 224 at 10 m in the tile's UTM zone, TerraMind's
layout (`<out>/S2L2A/<tile>.tif`, `DEM/`, `LULC/`), with the `datetime` tag the project's reader takes.

Spectra are real: each pixel of land-cover class c is a pixel of class c from the real TerraMind tiles
(tests/data/sentinel2/terramind-examples), chosen through a smooth random field over that class's pixels sorted
by brightness, so that texture is spatially coherent.
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
from tm_weather.sources.sentinel2 import BASELINE_04_OFFSET, BASELINE_04_START
from tm_weather.world.fields import WaveField
from tm_weather.world.landscape import N_CLASSES, Landscape

REAL_TILES = Path(__file__).resolve().parents[2] / "tests" / "data" / "sentinel2" / "terramind-examples"
TILE_SIZE = 224
PIXEL_M = 10.0
#: Wavelengths (km) of the field that picks spectra within a class (field texture).
TEXTURE_KM = (0.05, 1.0)


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
            pool = spec[code == c]
            pools.append(pool[np.argsort(pool.astype(np.int64).sum(1), kind="stable")])
        return cls(tuple(pools))

    def paint(self, codes: np.ndarray, texture: np.ndarray) -> np.ndarray:
        """`(band, y, x)` int16 DN for LULC `codes` `(y, x)`, picking in each class's pool at quantile
        `texture` `(y, x)` in [0, 1)."""
        out = np.zeros((len(S2_BANDS), *codes.shape), dtype=np.int16)
        for c in np.unique(codes):
            pool = self.pools[c - 1]
            if len(pool) == 0:
                raise ValueError(f"no real Sentinel-2 pixels of LULC class {c}")
            where = codes == c
            out[:, where] = pool[(texture[where] * len(pool)).astype(np.int64)].T
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
    """One tile's rasters: s2 `(12, y, x)` int16 DN; dem `(y, x)` int16 m; lulc `(y, x)` uint8 codes."""

    grid: TileGrid
    s2: np.ndarray
    dem: np.ndarray
    lulc: np.ndarray


def make_tile(
    grid: TileGrid, landscape: Landscape, spectra: ClassSpectra, doy: float, rng: np.random.Generator
) -> TileRasters:
    """The tile's rasters on day of year `doy` (snow as on that day)."""
    height = landscape.elevation(grid.lat, grid.lon)
    lulc = landscape.cover_on(grid.lat, grid.lon, height, np.array([doy]))[0]
    texture = ndtr(WaveField.draw(rng, 1.0, TEXTURE_KM)(grid.lat, grid.lon))
    return TileRasters(grid, spectra.paint(lulc, np.minimum(texture, 1 - 1e-9)), np.round(height).astype(np.int16), lulc)


def write_tile(tile: TileRasters, out: Path, name: str, acquired: np.datetime64) -> dict[str, Path]:
    """Write `S2L2A/`, `DEM/` and `LULC/<name>.tif` under `out`; return the paths relative to `out` by kind.

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
