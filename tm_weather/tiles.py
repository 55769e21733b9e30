"""A catalog's tiles as arrays: the Sentinel-2 tile with its DEM and land cover, the truth source of a tile, a
split's tiles and whole days, and the GFS series over a valid day at a tile (the model's GFS input).

This is the data both the model (`tm_weather.model.data`) and the tokenizers trained on a catalog
(`tm_weather.tokenizers.pattern`, `tm_weather.tokenizers.residual`) read, so it sits below both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError

log = logging.getLogger(__name__)

SIZE = 224  # tile side, px
#: (cycle hour, leads) giving the valid day's 24 hours: each hour from the latest run at or before it.
GFS_RUNS = ((0, range(0, 12)), (12, range(0, 12)))


#: The least share of valid pixels a tile's S-2 image or DEM must have (S-2: not nodata in any band; DEM: finite,
#: not the file's nodata). Below it `read_tile` refuses the tile; above it the rest is filled (`_filled`).
MIN_VALID_SHARE = 0.5


@dataclass
class Tile:
    """A tile's inputs: reflectance `(12, 224, 224)`, elevation `(224, 224)` m and land cover `(224, 224)` int64
    0-8 (None when not given), its grid, centre (degrees) and acquisition time (UTC). Masked S-2 pixels and
    missing heights are filled with the mean of the valid ones (`_filled`); `filled` says how much, as the
    provenance attributes `input_s2_masked_share` and `input_dem_masked_share` (0..1)."""

    name: str
    reflectance: np.ndarray
    dem: np.ndarray | None
    lulc: np.ndarray | None
    grid: object
    lat: float
    lon: float
    acquired: np.datetime64
    filled: dict[str, str] = dataclasses.field(default_factory=dict)


def read_tile(s2: Path, dem: Path | None = None, lulc: Path | None = None, time=None, boa_add_offset=None,
              name: str | None = None) -> Tile:
    """Read a 224 x 224 Sentinel-2 L2A GeoTIFF and, if given, a DEM and a LULC GeoTIFF on its grid.

    Too few valid pixels in the S-2 image or the DEM (`MIN_VALID_SHARE`), or a centre off the Earth, raise
    `InputError`; missing values are never read as 0 reflectance or 0 m."""
    from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a

    tile = read_s2l2a(s2, time=time, boa_add_offset=boa_add_offset)
    if tile.grid.shape != (SIZE, SIZE):
        raise InputError(s2, "size", f"{SIZE} x {SIZE} pixels (TerraMind's tile: 14 x 14 patches of 16)", str(tile.grid.shape))
    reflectance, s2_share = _filled(tile.reflectance.values, ~tile.mask.values, s2, "pixels with data in every band")
    filled = {"input_s2_masked_share": f"{s2_share:.4f}"}
    height = None
    if dem:
        values = read_dem(dem, tile.grid).values
        height, dem_share = _filled(values, np.isfinite(values), dem, "finite heights (not the nodata value)")
        filled["input_dem_masked_share"] = f"{dem_share:.4f}"
    classes = read_lulc(lulc, tile.grid).values.astype(np.int64) - 1 if lulc else None
    if classes is not None and (classes.min() < 0 or classes.max() > 8):
        raise InputError(lulc, "classes", "TerraMind's LULC classes 1..9", f"{classes.min() + 1}..{classes.max() + 1}")
    lon, lat = tile.grid.centre_lonlat()
    if not (np.isfinite(lon) and -90 <= lat <= 90):
        raise InputError(s2, "centre", "a place on the Earth (latitude -90..90) from the tile's CRS and transform",
                         f"lon {lon}, lat {lat}")
    return Tile(name or Path(s2).stem, reflectance, height, classes, tile.grid, lat, lon, tile.time, filled)


def _filled(values: np.ndarray, valid: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, float]:
    """`values` `(..., y, x)` float32 with the pixels where `valid` `(y, x)` is False set to the mean of the valid
    ones (per leading index), and the share filled (0..1); `InputError` below `MIN_VALID_SHARE` valid."""
    share = float(valid.mean())
    if share < MIN_VALID_SHARE:
        raise InputError(path, "valid pixels", f"at least {MIN_VALID_SHARE:.0%} {what}", f"{share:.1%}")
    if share == 1:
        return values.astype(np.float32), 0.0
    means = values[..., valid].mean(axis=-1, dtype=np.float64)
    out = np.where(valid, values, means[..., None, None]).astype(np.float32)
    log.warning("%s: %.1f%% of the pixels lack %s; filled with the mean of the others", path, 100 * (1 - share), what)
    return out, 1 - share


def gfs_runs(day: np.datetime64) -> np.ndarray:
    """Init times `(2,)` datetime64[ns] of the runs whose hours make up UTC `day` (`GFS_RUNS`)."""
    return np.array([np.datetime64(day, "h") + np.timedelta64(cycle, "h") for cycle, _ in GFS_RUNS], dtype="datetime64[ns]")


def gfs_day(runs, lat: list[float], lon: list[float], names: list[str]) -> np.ndarray:
    """The fields of `gfs_runs(day)` (t2m `(init_time, lead_time, y, x)`) -> T2M `(site, 24)` K over the day at
    the sites: the 00Z run's leads 0-11 then the 12Z run's leads 0-11."""
    from tm_weather.series import extract_points

    data = extract_points(runs, lat, lon, names).transpose("site", "init_time", "lead_time")
    hours = data["lead_time"].values / np.timedelta64(1, "h")
    parts = [data.values[:, i, np.isin(hours, list(leads))] for i, (_, leads) in enumerate(GFS_RUNS)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def gfs_series(source, cache: dict, day: np.datetime64, tile: Tile) -> np.ndarray:
    """The model's GFS input `(24,)` K over UTC `day` at the tile centre (`gfs_day`), brought from GFS's model
    orography to the tile's mean DEM height by the standard lapse rate when the tile has a DEM, as model output
    statistics and the GFS + lapse baseline do (-6.5 K/km; on the full world's test split this takes GFS at the
    valid hours from 1.13 to 1.06 K RMSE). `cache`: day -> the runs' T2M, (day, "orography") -> the 00Z run's
    orography (read only for a tile with a DEM), shared by the tiles of a split so each file is read once."""
    from tm_weather.series import extract_points
    from tm_weather.sources.gfs import LAPSE_RATE_K_PER_M

    runs = gfs_runs(day)
    if day not in cache:
        cache[day] = source(runs)
    series = gfs_day(cache[day], [tile.lat], [tile.lon], [tile.name])[0]
    if tile.dem is None:
        return series
    if (day, "orography") not in cache:
        cache[day, "orography"] = source.orography(runs[0])
    height = float(extract_points(cache[day, "orography"], [tile.lat], [tile.lon], [tile.name]).values[0])
    return (series + LAPSE_RATE_K_PER_M * (float(tile.dem.mean()) - height)).astype(np.float32)


def split_window(catalog, split: str) -> tuple[list, np.datetime64, np.datetime64]:
    """(the split's catalog tile entries, its first and last instant) from `catalog.splits[split]`."""
    if split not in catalog.splits:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "the split", "none")
    part = catalog.splits[split]
    names = set(part.tiles)
    lo = np.datetime64(part.start or dt.date(1900, 1, 1), "ns")
    hi = np.datetime64(part.end or dt.date(2200, 1, 1), "ns") + np.timedelta64(1, "D") - np.timedelta64(1, "ns")
    return [t for t in catalog.tiles if t.name in names], lo, hi


def whole_days(truth, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    """The UTC days `(n,)` datetime64[D] on which source `truth` has all 24 hours within [lo, hi]."""
    days, counts = np.unique(truth.times(lo, hi).astype("datetime64[D]"), return_counts=True)
    return days[counts == 24]


def truth_source(catalog, tile: str):
    """The catalog's analysis source for `tile`: `truth_<tile>`, else `truth`."""
    from tm_weather.sources import open_source

    name = f"truth_{tile}" if f"truth_{tile}" in catalog.sources else "truth"
    if name not in catalog.sources:
        raise InputError(catalog.root / "catalog.yaml", "sources", f"a truth source '{name}' for tile {tile}")
    return open_source(name, catalog.sources[name], catalog)
