"""A catalog's tiles as arrays: the Sentinel-2 tile with its DEM and land cover, the truth source of a tile, a
split's tiles and whole days, and the GFS series over a valid day at a tile (the model's GFS input).

This is the data both the model (`tm_weather.model.data`) and the tokenizers trained on a catalog
(`tm_weather.tokenizers.pattern`, `tm_weather.tokenizers.residual`) read, so it sits below both.

Where the store is bypassed, and why. The store (`tm_weather.store`) keeps what ingest makes: series at the
catalog's sites, and analysis fields on each tile on the day it was acquired. Three reads need more, so they read
the catalog's sources, always through `tm_weather.sources.open_source` and the source's own calls (no second
decoder):
- training truth (`truth_source`): the truth field on the tile at every whole day of a split, not only on the
  acquisition day the store holds;
- the model's GFS input (`gfs_series`): each hour's field from the latest run (`RunSource.fields`) at the tile
  centre, and the run's orography (`OrographySource.orography`); the store keeps GFS only as series at sites;
- the GFS/NBM baselines (`tm_weather.verify.baselines.GFSRuns`): the same fields and orography, on every pixel of
  the tile; gridded truths other than `store:NAME` (`tm_weather.verify.truth`) are read at the valid times and
  the day before (persistence), which the store holds only on acquisition days.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.lapse import lapse_adjust
from tm_weather.lexicon import S2_BANDS, check_kelvin_range
from tm_weather.sources.base import OrographySource, RunSource, Source
from tm_weather.times import day_window

log = logging.getLogger(__name__)

SIZE = 224  # tile side, px
#: The GFS input's longest lead (h): each valid hour takes the latest run at most this far ahead of it.
GFS_MAX_LEAD_H = 12


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

    def __post_init__(self):
        """Shapes, dtypes and the grid's CRS, checked wherever a tile is made (`read_tile`, `api`, `replace`);
        `ValueError`: a program's error (the readers report a user's files with `InputError` before)."""
        for name, shape, kind in (("reflectance", (len(S2_BANDS), SIZE, SIZE), "f"), ("dem", (SIZE, SIZE), "f"),
                                  ("lulc", (SIZE, SIZE), "i")):
            array = getattr(self, name)
            if array is None and name != "reflectance":
                continue
            if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype.kind != kind:
                found = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
                raise ValueError(f"tile {self.name}: {name} must be {'a float' if kind == 'f' else 'an integer'} array "
                                 f"{shape}, got {found}")
        if getattr(self.grid, "crs", None) is None or tuple(self.grid.shape) != (SIZE, SIZE):
            raise ValueError(f"tile {self.name}: needs a {SIZE} x {SIZE} grid with a CRS, got {self.grid}")


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


@dataclass(frozen=True)
class GFSInput:
    """The model's GFS input over a valid UTC day at a tile: `values (24,)` K at hours 00..23 UTC and `lead (24,)`
    h, the lead time of the run each hour comes from."""

    values: np.ndarray
    lead: np.ndarray

    def __post_init__(self):
        if self.values.shape != (24,) or self.lead.shape != (24,):
            raise ValueError(f"GFSInput needs 24 values and 24 leads, got {self.values.shape} and {self.lead.shape}")
        check_kelvin_range(self.values, "GFS input")


def gfs_plan(source: RunSource, day: np.datetime64, max_lead: int = GFS_MAX_LEAD_H) -> list[tuple[np.datetime64, int]]:
    """For each hour of UTC `day`, (run, lead h): the latest of `source`'s runs (its cycles, `source.times`) whose
    lead to that hour is among its lead times (`source.fxx`) and at most `max_lead`, among the runs whose file for
    that lead can be had (`source.fetch`; a missing run falls back to the one before). `InputError` when an hour
    has none, naming the hour and the runs tried."""
    plan = []
    for h in np.datetime64(day, "h") + np.arange(24) * np.timedelta64(1, "h"):
        tried = []
        for run in source.times(h - np.timedelta64(max_lead, "h"), h)[::-1]:
            lead = int((h - run) // np.timedelta64(1, "h"))
            if lead not in source.fxx:
                continue
            try:
                source.fetch(run, lead)
            except InputError as e:
                tried.append(f"{str(run)[:13]}Z +{lead} h ({e})")
                continue
            plan.append((np.datetime64(run, "ns"), lead))
            break
        else:
            raise InputError(source.save_dir, f"GFS for {str(h)[:13]}Z", f"a run at most {max_lead} h before it, "
                             f"at one of the cycles {sorted(source.hours)} with a lead in {source.fxx}",
                             "; ".join(tried)[:300] or "no such run in the catalog's cycles and leads")
    return plan


def gfs_fields(source: RunSource, day: np.datetime64, max_lead: int = GFS_MAX_LEAD_H):
    """The fields of `gfs_plan(source, day)` -> (T2M `(time, y, x)` K at the day's 24 hours with each hour's
    `init_time`, leads `(24,)` h)."""
    import xarray as xr

    plan = gfs_plan(source, day, max_lead)
    cube = source.fields(plan)
    runs = xr.DataArray([run for run, _ in plan], dims="time")
    leads = np.array([lead for _, lead in plan])
    return cube.sel(init_time=runs, lead_time=xr.DataArray(leads * np.timedelta64(1, "h"), dims="time")), leads


def gfs_series(source: OrographySource, cache: dict, day: np.datetime64, tile: Tile,
               max_lead: int = GFS_MAX_LEAD_H) -> GFSInput:
    """The model's GFS input over UTC `day` at the tile centre: every hour from the latest run at most `max_lead`
    h ahead (`gfs_plan`, bilinear at the centre), brought from GFS's model orography to the tile's mean DEM height
    by the standard lapse rate when the tile has a DEM, as model output statistics and the GFS + lapse baseline do
    (-6.5 K/km). `cache`: (day, max_lead) -> `gfs_fields`, (run, "orography") -> a run's orography (read only for a tile with a
    DEM), shared by the tiles of a split so each file is read once (keyed by day and `max_lead`)."""
    from tm_weather.series import extract_points

    if (day, max_lead) not in cache:
        cache[day, max_lead] = gfs_fields(source, day, max_lead)
    fields, leads = cache[day, max_lead]
    series = extract_points(fields, [tile.lat], [tile.lon], [tile.name]).transpose("site", "time").values[0]
    series = series.astype(np.float32)
    if tile.dem is not None:
        first = fields["init_time"].values[0]
        key = (first, "orography")
        if key not in cache:
            cache[key] = source.orography(first)
        height = float(extract_points(cache[key], [tile.lat], [tile.lon], [tile.name]).values[0])
        series = lapse_adjust(series, height, float(tile.dem.mean())).astype(np.float32)
    return GFSInput(series, leads.astype(np.int64))


def gfs_or_none(source: OrographySource | None, cache: dict, day: np.datetime64, tile: Tile) -> GFSInput | None:
    """`gfs_series` at the tile, or None (logged) when there is no GFS `source` or it lacks the day's runs."""
    if source is None:
        return None
    try:
        return gfs_series(source, cache, day, tile)
    except InputError as e:
        log.warning("no GFS for %s on %s: %s", tile.name, day, e)
        return None


def split_window(catalog, split: str) -> tuple[list, np.datetime64, np.datetime64]:
    """(the split's catalog tile entries, its first and last instant) from `catalog.splits[split]`."""
    if split not in catalog.splits:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "the split", "none")
    part = catalog.splits[split]
    names = set(part.tiles)
    lo, hi = day_window(part.start, part.end)
    return [t for t in catalog.tiles if t.name in names], lo, hi


def whole_days(truth, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    """The UTC days `(n,)` datetime64[D] on which source `truth` has all 24 hours within [lo, hi]."""
    days, counts = np.unique(truth.times(lo, hi).astype("datetime64[D]"), return_counts=True)
    return days[counts == 24]


def gfs_source(catalog) -> OrographySource | None:
    """The catalog's GFS forecast source (the model's GFS input): the source named `gfs`, else the only source of
    kind `gfs`; None when it has none. `InputError` when several sources of kind `gfs` leave it ambiguous, so a
    catalog that names its forecast otherwise is not trained or run silently without it."""
    from tm_weather.sources import open_source

    forecasts = catalog.gfs_forecasts()
    if "gfs" in catalog.sources:
        name = "gfs"
    elif len(forecasts) == 1:
        name = forecasts[0]
    elif forecasts:
        raise InputError(catalog.root / "catalog.yaml", "sources", "one GFS forecast source (kind: gfs) or one named "
                         "'gfs'", f"{len(forecasts)} of kind gfs: {', '.join(forecasts)}")
    else:
        return None
    source = open_source(name, catalog.sources[name], catalog)
    if not isinstance(source, OrographySource):
        raise InputError(catalog.root / "catalog.yaml", f"sources.{name}", "a GFS forecast source (kind: gfs)",
                         f"kind: {catalog.sources[name].kind}")
    return source


def truth_source(catalog, tile: str) -> Source:
    """The catalog's analysis source for `tile`: `truth_<tile>`, else `truth`."""
    from tm_weather.sources import open_source

    name = f"truth_{tile}" if f"truth_{tile}" in catalog.sources else "truth"
    if name not in catalog.sources:
        raise InputError(catalog.root / "catalog.yaml", "sources", f"a truth source '{name}' for tile {tile}")
    return open_source(name, catalog.sources[name], catalog)
