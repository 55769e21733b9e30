"""The Python API of generation, which `tm-weather generate` calls: `generate` (a Sentinel-2 product and an area
-> one 2 m temperature field, as an `xarray.Dataset`) and `generate_one_tile` (one 224 x 224 GeoTIFF -> that
tile's members and hourly profile, the command's original output).

    import tm_weather
    ds = tm_weather.generate("S2B_MSIL2A_20230610T074619_N0509_R135_T37MBN.SAFE", "2023-06-10T10:00",
                             bbox=(36.50, -3.45, 36.59, -3.36), dem="dem.tif", gfs="auto", members=8)
    ds["t2m_mean"].plot()

Every tile is generated through `tile_dataset`, the one place that calls the model (`generate_tile`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import xarray as xr
from affine import Affine

from tm_weather.area import DEFAULT_OVERLAP, Blend, blend_window, tile_starts
from tm_weather.errors import InputError
from tm_weather.model import DEFAULT_CHECKPOINT
from tm_weather.tiles import MIN_VALID_SHARE, SIZE, Tile, _filled
from tm_weather.times import utc_time

#: Where `gfs="auto"` keeps the GFS files Herbie fetches (Herbie's save_dir), unless `gfs_cache` says otherwise.
GFS_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tm-weather" / "herbie"
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
#: Attributes of the first generated tile's dataset that the area's output repeats (the same for every tile).
TILE_SETTINGS = ("conditioned_on", "order", "temperature", "top_k", "top_p", "run_time")


def gfs_source(spec: str, cache: Path | None = None):
    """The GFS forecast source `spec` names: "auto" -> NOAA GFS through Herbie, only the `TMP:2 m above ground`
    messages of the runs and leads the model's GFS input takes (`tm_weather.tiles.gfs_plan`: the 00, 06, 12 and
    18Z runs, leads up to `GFS_MAX_LEAD_H`, each file fetched only when an hour needs it), from the cache folder
    `cache` (default `GFS_CACHE`) first, else by `.idx` byte range from NOAA's archives (product `pgrb2.0p25`,
    which Herbie serves for runs from 2021); "CATALOG[:SOURCE]" -> the catalog's source `SOURCE`, by default
    `tiles.gfs_source`'s (the one named gfs, else the only one of kind gfs)."""
    from tm_weather.catalog import Catalog, load_catalog
    from tm_weather.sources import open_source
    from tm_weather.sources.base import OrographySource
    from tm_weather.tiles import GFS_MAX_LEAD_H
    from tm_weather.tiles import gfs_source as catalog_forecast

    if spec == "auto":
        config = {"kind": "gfs", "cycles": [0, 6, 12, 18], "fxx": list(range(GFS_MAX_LEAD_H + 1))}
        cache = Path(cache or GFS_CACHE)  # a catalog of this one source, its cache the Herbie cache
        catalog = Catalog(root=cache, store=Path("unused.zarr"), cache_dir=cache, sources={"gfs": config})
        return open_source("gfs", catalog.sources["gfs"], catalog)
    path, _, name = spec.partition(":")
    catalog = load_catalog(path)
    if not name:
        source = catalog_forecast(catalog)
        if source is None:
            raise InputError(path, "sources", "a GFS forecast source (kind: gfs)", "none")
        return source
    source = open_source(name, catalog.sources[name], catalog) if name in catalog.sources else None
    if not isinstance(source, OrographySource):
        raise InputError(path, f"sources.{name}", "a GFS forecast source (kind: gfs)")
    return source


def tile_dataset(gen, tile: Tile, time: np.datetime64, gfs, config, tim: bool, provenance: dict | None = None) -> xr.Dataset:
    """Generate on one tile with `gen` (a `model.generator.Generator`: `generate.generate_tile`, members `t2m
    (member, 224, 224)` K and the rest) given its `tiles.GFSInput` over the valid day or None. The one call of the
    model; the GFS leads used go into the provenance."""
    leads = "" if gfs is None else " ".join(str(int(x)) for x in gfs.lead)
    return gen.tile(tile, time, gfs, config, tim, {**(provenance or {}), "input_gfs_leads_h": leads})


def load_generator(checkpoint: Path = DEFAULT_CHECKPOINT, regression: Path | None = None, tokenizers: Path | None = None):
    """`model.generator.Generator.load`: the transformer with the tokenizers and regression it was trained with."""
    from tm_weather.model.generator import Generator

    return Generator.load(checkpoint, tokenizers, regression)


def is_one_tile(s2: str | Path) -> bool:
    """Whether `s2` is a single-band-stack raster file of exactly one tile (224 x 224 px)."""
    import rasterio

    path = Path(s2)
    if not path.is_file() or path.suffix == ".json":
        return False
    try:
        with rasterio.open(path) as src:
            return src.shape == (SIZE, SIZE)
    except rasterio.errors.RasterioError:
        return False


def generate_one_tile(s2: Path, time, *, dem: Path | None = None, lulc: Path | None = None,
                      gfs: str | None = None, gfs_cache: Path | None = None, members: int = 8, steps: int = 8,
                      seed: int = 0, tim: bool = False, acquired=None, boa_add_offset: int | None = None,
                      checkpoint: Path = DEFAULT_CHECKPOINT, regression: Path | None = None,
                      tokenizers: Path | None = None, generator=None) -> xr.Dataset:
    """One 224 x 224 Sentinel-2 GeoTIFF (and a DEM / LULC on its grid) -> `generate_tile`'s dataset: members
    `t2m (member, y, x)`, mean and spread (K), the hourly profile, provenance. Masked pixels are filled with the
    valid mean (`tm_weather.tiles.read_tile`), as the model was trained. Arguments as `generate`'s."""
    from tm_weather.model.generate import GenerationConfig
    from tm_weather.tiles import gfs_series, read_tile

    time = _utc(time, "time")
    acquired = _utc(acquired, "acquired") if acquired is not None else None
    gen = generator or load_generator(checkpoint, regression, tokenizers)
    tile = read_tile(s2, dem, lulc, time=acquired, boa_add_offset=boa_add_offset)
    series = gfs_series(gfs_source(gfs, gfs_cache), {}, time.astype("datetime64[D]"), tile) if gfs else None
    provenance = {"input_s2": str(s2), "input_s2_acquired": str(tile.acquired) + "Z",
                  "input_dem": str(dem or ""), "input_lulc": str(lulc or ""), "input_gfs": gfs or "", **tile.filled}
    config = GenerationConfig(members=members, steps=steps, seed=seed)
    return tile_dataset(gen, tile, time, series, config, tim, provenance)


def generate(s2: str | Path, time, *, bbox: Sequence[float] | None = None, aoi: str | Path | None = None,
             dem: str | Path | None = None, lulc: str | Path | None = None, gfs: str | None = None,
             gfs_cache: str | Path | None = None, members: int = 8, quantiles: Sequence[float] = DEFAULT_QUANTILES,
             save_members: bool = False, steps: int = 8, seed: int = 0, tim: bool = False, acquired=None,
             boa_add_offset: int | None = None, overlap: int = DEFAULT_OVERLAP, checkpoint: Path = DEFAULT_CHECKPOINT,
             regression: Path | None = None, tokenizers: Path | None = None, generator=None,
             progress: bool = False) -> xr.Dataset:
    """2 m temperature at valid `time` (ISO 8601 UTC or datetime) over an area of a Sentinel-2 L2A product, as one
    field blended from 224 x 224 px tiles -> `xarray.Dataset` on the product's 10 m grid and CRS:
    `t2m_mean`, `t2m_spread (y, x)` K (ensemble mean and standard deviation), `t2m_quantile (quantile, y, x)` K,
    and with `save_members` `t2m (member, y, x)` K; NaN where the product is masked (SCL cloud, shadow, nodata,
    saturated), outside `aoi`'s polygon, and on tiles skipped for having under `MIN_VALID_SHARE` clear pixels.

    `s2`: a SAFE folder, a STAC item (path or URL) or a GeoTIFF of any size (`tm_weather.sources.s2_product`).
    `bbox` (min lon, min lat, max lon, max lat) or `aoi` (a GeoJSON file): the area, default the whole scene.
    `dem`, `lulc`: rasters on any grid and CRS covering the area (reprojected). `gfs`: "auto" (GFS through
    Herbie, cache `gfs_cache` first) or "CATALOG[:SOURCE]"; each tile gets the series at its own centre.
    `members` per tile (1 batch each), `steps`, `seed`, `tim`: as `GenerationConfig`; each tile is seeded from
    (`seed`, its position), so tiles draw independently and a run is reproducible. `overlap`: px shared by
    neighbouring tiles, blended as `tm_weather.area` describes (mean and spread from weighted sums of the tiles'
    means and second moments; quantiles are the tiles' own quantiles blended, not quantiles of the pooled
    members). Memory: tiles are generated one at a time; the area holds a few float32 arrays (plus the members
    with `save_members`). `generator`: already loaded networks (else loaded from `checkpoint`, `regression`,
    `tokenizers`). Bad input raises `InputError` naming the file and what was expected."""
    import rasterio.features
    import rasterio.warp
    from rasterio.enums import Resampling
    from tqdm import tqdm

    from tm_weather.model.generate import GenerationConfig
    from tm_weather.sources.s2_product import Area, area_window, covered, read_aoi, read_scene, warp_onto
    from tm_weather.tiles import gfs_series

    time = _utc(time, "time")
    acquired = _utc(acquired, "acquired") if acquired is not None else None
    if bbox is not None and aoi is not None:
        raise InputError("--bbox/--aoi", "area", "one of a bbox and a GeoJSON area", "both")
    area = read_aoi(Path(aoi)) if aoi is not None else Area(_bbox(bbox)) if bbox is not None else Area()
    quantiles = tuple(sorted(float(q) for q in quantiles))
    if not all(0 <= q <= 1 for q in quantiles):
        raise InputError("--quantiles", "levels", "numbers in 0..1", str(quantiles))
    config = GenerationConfig(members=members, steps=steps, seed=seed)

    scene = read_scene(s2, area, time=acquired, boa_add_offset=boa_add_offset, minimum_px=SIZE)
    mask = scene.mask.values
    if mask.all():
        raise InputError(s2, "clear pixels", "some pixels of the area that are not cloud, cloud shadow, nodata or "
                         "saturated (SCL)", "none: the area is entirely masked")
    grid = scene.grid
    heights = classes = None
    if dem is not None:
        covered(dem, grid, dem)
        heights = warp_onto(dem, grid, Resampling.bilinear, dem)
    if lulc is not None:
        covered(lulc, grid, lulc)
        classes = warp_onto(lulc, grid, Resampling.nearest, lulc)
        if np.nanmin(classes) < 1 or np.nanmax(classes) > 9:
            raise InputError(lulc, "classes", "TerraMind's LULC classes 1..9", f"{np.nanmin(classes):g}..{np.nanmax(classes):g}")
    source = gfs_source(gfs, Path(gfs_cache) if gfs_cache else None) if gfs else None
    gen = generator or load_generator(checkpoint, regression, tokenizers)

    rows, cols = tile_starts(grid.shape[0], SIZE, overlap), tile_starts(grid.shape[1], SIZE, overlap)
    blend = Blend(grid.shape, quantiles, members if save_members else 0, blend_window(SIZE, overlap))
    reflectance, gfs_cache_days, skipped, settings = scene.reflectance.values, {}, 0, {}
    for r, c in tqdm([(r, c) for r in rows for c in cols], desc="tiles", unit="tile", disable=not progress):
        s = np.s_[r:r + SIZE, c:c + SIZE]
        if 1 - mask[s].mean() < MIN_VALID_SHARE:
            skipped += 1
            continue
        tile = _window_tile(scene, grid, r, c, reflectance[(slice(None), *s)], mask[s],
                            None if heights is None else heights[s], None if classes is None else classes[s], dem)
        series = gfs_series(source, gfs_cache_days, time.astype("datetime64[D]"), tile) if source else None
        tile_config = replace(config, seed=_tile_seed(seed, r, c))
        ds = tile_dataset(gen, tile, time, series, tile_config, tim)
        blend.add(r, c, ds["t2m"].values)
        settings = settings or {k: ds.attrs[k] for k in TILE_SETTINGS}
    if skipped == len(rows) * len(cols):
        raise InputError(s2, "clear pixels", f"a {SIZE} x {SIZE} px tile of the area with at least "
                         f"{MIN_VALID_SHARE:.0%} clear pixels", f"none of {skipped} tiles")

    out = area_window(grid, area, s2)
    ys, xs = out.toslices()
    masked = mask.copy()
    if area.geometry is not None:
        shape = rasterio.warp.transform_geom("EPSG:4326", grid.crs, area.geometry)
        masked |= rasterio.features.geometry_mask([shape], grid.shape, grid.transform)
    fields = {"t2m_mean": blend.mean(), "t2m_spread": blend.spread()}
    if quantiles:
        fields["t2m_quantile"] = blend.quantile()
    if save_members:
        fields["t2m"] = blend.member_fields()
    for v in fields.values():
        v[..., masked] = np.nan
    attrs = {
        **gen.provenance(), **settings, "input_s2": str(s2), "input_s2_acquired": str(scene.time) + "Z",
        "input_s2_boa_add_offset": scene.boa_add_offset, "input_dem": str(dem or ""), "input_lulc": str(lulc or ""),
        "input_gfs": gfs or "", "area": str(area.bbox or "the whole scene") + (f" (polygon of {aoi})" if aoi else ""),
        "valid_time": str(time) + "Z", "members": members, "seed": seed, "steps": steps, "tim": int(tim),
        "tiles": len(rows) * len(cols) - skipped, "tiles_skipped_masked": skipped, "tile_overlap_px": overlap,
        "blending": "tiles' statistics weighted by a smoothstep window over the overlaps; spread of the weighted "
                    "mixture of the tiles' ensembles; quantiles are the tiles' quantiles blended (tm_weather.area)",
    }
    return _area_dataset(fields, grid, ys, xs, quantiles, members if save_members else 0, time, attrs)


def _utc(value, where: str) -> np.datetime64:
    """`value` (ISO 8601 text, datetime or numpy datetime64; UTC) -> datetime64[ns] (`tm_weather.times.utc_time`)."""
    return utc_time(str(value) if isinstance(value, np.datetime64) else value, where, "value")


def _bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """`bbox` checked: four finite numbers min lon, min lat, max lon, max lat (degrees)."""
    values = tuple(float(v) for v in bbox)
    if len(values) != 4 or not np.isfinite(values).all() or not (values[0] < values[2] and values[1] < values[3]) \
            or not (-90 <= values[1] and values[3] <= 90):
        raise InputError("--bbox", "area", "min lon, min lat, max lon, max lat in degrees, min < max", str(bbox))
    return values


def _tile_seed(seed: int, row: int, col: int) -> int:
    """A tile's seed (0..2^63-1) from the run's `seed` and the tile's first pixel: tiles draw independently."""
    return int(np.random.SeedSequence((seed, row, col)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _window_tile(scene, grid, row: int, col: int, reflectance: np.ndarray, mask: np.ndarray,
                 heights: np.ndarray | None, classes: np.ndarray | None, dem: Path | None) -> Tile:
    """The `Tile` of the scene's window at (`row`, `col`): reflectance `(12, 224, 224)` and heights `(224, 224)` m
    with masked pixels filled by the window's valid mean (as `read_tile` fills them), land cover 0-8 (class 1 where
    the land-cover raster has no data). These fills are model inputs only: the output is NaN where S-2 is masked."""
    from tm_weather.series import TileGrid

    name = f"{Path(str(scene.path)).stem}_r{row}_c{col}"
    values, s2_share = _filled(reflectance, ~mask, scene.path, "pixels with data in every band")
    filled = {"input_s2_masked_share": f"{s2_share:.4f}"}
    if heights is not None:
        heights, dem_share = _filled(heights, np.isfinite(heights), dem, "finite heights (not the nodata value)")
        filled["input_dem_masked_share"] = f"{dem_share:.4f}"
    lulc = None if classes is None else np.nan_to_num(classes, nan=1).astype(np.int64) - 1
    tile_grid = TileGrid(grid.crs, grid.transform @ Affine.translation(col, row), (SIZE, SIZE))
    lon, lat = tile_grid.centre_lonlat()
    return Tile(name, values, heights, lulc, tile_grid, lat, lon, scene.time, filled)


def _area_dataset(fields: dict[str, np.ndarray], grid, ys: slice, xs: slice, quantiles: tuple[float, ...],
                  members: int, time: np.datetime64, attrs: dict) -> xr.Dataset:
    """The blended `fields` cut to the area's rows `ys` and columns `xs` -> CF dataset with the grid's CRS."""
    import tm_weather

    x, y = grid.centres()
    k = {"units": "K", "grid_mapping": "spatial_ref"}
    names = {"t2m_mean": ("2 m temperature, ensemble mean", ("y", "x")),
             "t2m_spread": ("2 m temperature, ensemble standard deviation", ("y", "x")),
             "t2m_quantile": ("2 m temperature, ensemble quantile", ("quantile", "y", "x")),
             "t2m": ("2 m temperature, ensemble member", ("member", "y", "x"))}
    data = {}
    for name, values in fields.items():
        long_name, dims = names[name]
        extra = {} if name == "t2m_spread" else {"standard_name": "air_temperature"}
        data[name] = (dims, values[..., ys, xs], {**k, **extra, "long_name": long_name})
    coords = {"y": ("y", y[ys], {"units": "m", "standard_name": "projection_y_coordinate"}),
              "x": ("x", x[xs], {"units": "m", "standard_name": "projection_x_coordinate"}),
              "time": time.astype("datetime64[ns]")}
    if quantiles:
        coords["quantile"] = ("quantile", np.array(quantiles), {"long_name": "quantile level"})
    if members:
        coords["member"] = np.arange(members)
    ds = xr.Dataset(data, coords=coords)
    transform = grid.transform @ Affine.translation(xs.start, ys.start)
    ds = ds.rio.write_crs(grid.crs).rio.write_transform(transform)
    for name in ds.data_vars:  # list the CRS variable as a coordinate, so a plain `xr.open_dataset` keeps the CRS
        ds[name].encoding["coordinates"] = "spatial_ref"
    ds.attrs = {"Conventions": "CF-1.8", "title": "2 m temperature over an area, generated from Sentinel-2 by the "
                "tm-weather shared transformer, tiles blended", "source": f"tm-weather {tm_weather.__version__}",
                **attrs}
    return ds
