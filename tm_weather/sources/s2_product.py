"""Sentinel-2 L2A products as users hold them, read over an area onto one 10 m grid: a SAFE folder, a STAC item, or
a 12-band GeoTIFF of any size; and a DEM or land-cover raster of any grid and CRS reprojected onto that grid.

- SAFE (`<name>.SAFE/`): the JPEG2000 bands `GRANULE/*/IMG_DATA/R{10,20,60}m/*_<band>_<res>m.jp2`, each band at its
  finest resolution (`RESOLUTION_M`), the scene classification `SCL` at 20 m, and `MTD_MSIL2A.xml` for
  `PRODUCT_START_TIME` (the acquisition time) and `BOA_ADD_OFFSET` (baseline 04.00 on; else `PROCESSING_BASELINE`).
- STAC item (`.json`, local or remote; read with pystac): assets named as Planetary Computer does (`B01`..`B12`,
  `B8A`, `SCL`) or as Earth Search does (`coastal`, `blue`, ..., `nir08`, `swir22`, `scl`; `STAC_ASSETS`); hrefs
  local or remote (GDAL reads http(s) hrefs by range request; Planetary Computer's need signing first, e.g. with
  its `planetary-computer` package). Time: the item's `datetime`; offset: `earthsearch:boa_offset_applied` (then 0)
  or `s2:processing_baseline`.
- GeoTIFF: `tm_weather.sources.sentinel2.read_s2l2a` (tags, siblings and arguments as there), only the area's pixels.

The grid is the 10 m band B02's (the GeoTIFF's own for a GeoTIFF), cut to the area's pixels; the other bands are
resampled onto it by GDAL (bilinear for reflectance, nearest for SCL and land cover) reading only the area's part
of each file. Pixels that are nodata (DN 0) in any band or whose SCL class is in `SCL_MASKED` (no data, saturated
or defective, cloud shadow, cloud medium and high probability, thin cirrus) are masked (NaN, mask True).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import rasterio.warp
import rasterio.windows
import xarray as xr
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window, WindowError, from_bounds

from tm_weather.errors import InputError
from tm_weather.files import regular_file
from tm_weather.lexicon import S2_BANDS
from tm_weather.series import TileGrid
from tm_weather.sources.sentinel2 import (
    BASELINE_04_OFFSET, NODATA_DN, QUANTIFICATION, SCL_CLOUD_CLASSES, S2Tile, choose_boa_add_offset, read_s2l2a,
)
from tm_weather.times import utc_time

#: SCL classes masked: 0 no data, 1 saturated or defective, then cloud shadow and clouds (`SCL_CLOUD_CLASSES`).
SCL_MASKED = (0, 1, *SCL_CLOUD_CLASSES)
#: Each L2A band at its finest resolution in a SAFE folder (m); SCL comes at 20 m.
RESOLUTION_M = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
                "B09": 60, "B11": 20, "B12": 20, "SCL": 20}
#: STAC asset names of each band: Planetary Computer's, then Earth Search's.
STAC_ASSETS = {"B01": ("B01", "coastal"), "B02": ("B02", "blue"), "B03": ("B03", "green"), "B04": ("B04", "red"),
               "B05": ("B05", "rededge1"), "B06": ("B06", "rededge2"), "B07": ("B07", "rededge3"),
               "B08": ("B08", "nir"), "B8A": ("B8A", "nir08"), "B09": ("B09", "nir09"), "B11": ("B11", "swir16"),
               "B12": ("B12", "swir22"), "SCL": ("SCL", "scl")}


@dataclass(frozen=True)
class Area:
    """The area asked for: `bbox` (min lon, min lat, max lon, max lat, degrees), and the polygon `geometry`
    (GeoJSON, lon/lat) outside which output pixels are masked when the area came from a GeoJSON file; `where`
    names its source for messages. No bbox: the whole scene."""

    bbox: tuple[float, float, float, float] | None = None
    geometry: dict | None = None
    where: str = "--bbox"


def read_aoi(path: Path) -> Area:
    """A GeoJSON file (a geometry, Feature or FeatureCollection, lon/lat) -> its `Area` (bbox of all coordinates;
    the union of its geometries as the mask)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, "file", "a GeoJSON file (lon/lat)", str(e)[:120]) from e
    features = doc.get("features", [doc]) if isinstance(doc, dict) else []
    geometries = [f.get("geometry", f) for f in features if isinstance(f, dict)]
    coords = np.array([c for g in geometries for c in _positions(g.get("coordinates") if isinstance(g, dict) else None)],
                      dtype=float).reshape(-1, 2)
    if not len(coords) or not np.isfinite(coords).all():
        raise InputError(path, "coordinates", "a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection", "none")
    bbox = (*coords.min(0), *coords.max(0))
    union = {"type": "GeometryCollection", "geometries": geometries}
    return Area(tuple(float(v) for v in bbox), union, str(path))


def _positions(coords) -> list:
    """The [lon, lat] positions nested anywhere in GeoJSON `coordinates`."""
    if isinstance(coords, (list, tuple)) and len(coords) >= 2 and all(isinstance(v, (int, float)) for v in coords[:2]):
        return [coords[:2]]
    return [p for c in coords for p in _positions(c)] if isinstance(coords, (list, tuple)) else []


def read_scene(source: str | Path, area: Area = Area(), *, time=None, boa_add_offset: int | None = None,
               minimum_px: int = 0) -> S2Tile:
    """The Sentinel-2 L2A product `source` (SAFE folder, STAC item JSON or GeoTIFF; see the module docstring) over
    `area`, grown to at least `minimum_px` pixels a side where the scene allows -> `S2Tile`: reflectance float32
    `(band, y, x)` on the 10 m grid, NaN where masked, and the acquisition time and BOA offset from the product
    (`time` and `boa_add_offset` only where the product lacks them; a contradiction raises `InputError`)."""
    text = str(source)
    remote = text.startswith(("http://", "https://"))
    if not remote and Path(text).is_dir():
        return _read_safe(Path(text), area, time, boa_add_offset, minimum_px)
    if not remote:  # never hand a device or a pipe to a reader
        regular_file(text, "a Sentinel-2 L2A SAFE folder, STAC item (.json) or GeoTIFF")
    if text.endswith(".json") or (remote and not text.endswith((".tif", ".tiff"))):
        return _read_stac(text, area, time, boa_add_offset, minimum_px)
    path = Path(text)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InputError(path, "CRS", "a georeferenced GeoTIFF with a CRS", "none")
            grid = TileGrid(src.crs, src.transform, src.shape)
    except rasterio.errors.RasterioError as e:
        raise InputError(path, "file", "a readable GeoTIFF", str(e)) from e
    window = area_window(grid, area, path, minimum_px)
    return read_s2l2a(path, time=time, boa_add_offset=boa_add_offset, window=window.toslices())


def area_window(grid: TileGrid, area: Area, where: str | Path, minimum_px: int = 0) -> Window:
    """The pixels of `grid` that `area` covers (all of them without a bbox), grown about their centre to at least
    `minimum_px` a side within the grid; `InputError` when the area misses the grid or the grid is smaller."""
    ny, nx = grid.shape
    if min(ny, nx) < minimum_px:
        raise InputError(where, "size", f"at least {minimum_px} x {minimum_px} pixels (one tile)", f"{ny} x {nx}")
    full = Window(0, 0, nx, ny)
    if area.bbox is None:
        return full
    bounds = rasterio.warp.transform_bounds("EPSG:4326", grid.crs, *area.bbox, densify_pts=21)
    w = from_bounds(*bounds, transform=grid.transform)
    col0, row0 = np.floor(w.col_off + 1e-6), np.floor(w.row_off + 1e-6)  # the pixels the bounds touch
    window = Window(col0, row0, np.ceil(w.col_off + w.width - 1e-6) - col0, np.ceil(w.row_off + w.height - 1e-6) - row0)
    try:
        window = window.intersection(full)
    except WindowError:
        window = Window(0, 0, 0, 0)
    if window.width < 1 or window.height < 1:
        lon, lat = grid.corners_lonlat()
        found = f"scene lon {lon.min():.4f}..{lon.max():.4f}, lat {lat.min():.4f}..{lat.max():.4f}"
        raise InputError(area.where, "area", f"an area overlapping the scene {where}", f"{area.bbox} outside {found}")
    return _grow(window, nx, ny, minimum_px)


def _grow(window: Window, nx: int, ny: int, minimum: int) -> Window:
    """`window` grown about its centre to at least `minimum` a side, shifted to stay within `nx` x `ny`."""
    def span(off: int, length: int, size: int) -> tuple[int, int]:
        length2 = max(int(length), minimum)
        start = min(max(int(off) - (length2 - int(length)) // 2, 0), size - length2)
        return start, length2
    col, width = span(window.col_off, window.width, nx)
    row, height = span(window.row_off, window.height, ny)
    return Window(col, row, width, height)


def warp_onto(href: str | Path, grid: TileGrid, resampling: Resampling, where: str | Path,
              nodata: float | None = None) -> np.ndarray:
    """Band 1 of the raster `href` (any grid and CRS) reprojected onto `grid` -> float32 `(y, x)`, NaN where the
    file has no data (its nodata value, else `nodata` when given, or outside it). GDAL reads only the part of the
    file `grid` needs."""
    try:
        with rasterio.open(href) as src, WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.shape[1],
                                                    height=grid.shape[0], resampling=resampling,
                                                    src_nodata=nodata if src.nodata is None else src.nodata, nodata=np.nan, dtype="float32") as vrt:
            return vrt.read(1)
    except rasterio.errors.RasterioError as e:
        raise InputError(where, "file", "a readable georeferenced raster", str(e)[:200]) from e


def covered(href: str | Path, grid: TileGrid, where: str | Path) -> None:
    """`InputError` unless the raster `href` covers all of `grid` (its bounds, in `grid`'s CRS, to half a pixel)."""
    ny, nx = grid.shape
    t = grid.transform
    x0, x1, y1, y0 = t.c, t.c + nx * t.a, t.f, t.f + ny * t.e
    if not str(href).startswith(("http://", "https://")):
        regular_file(href, "a georeferenced raster")
    try:
        with rasterio.open(href) as src:
            if src.crs is None:
                raise InputError(where, "CRS", "a georeferenced raster with a CRS", "none")
            bounds = rasterio.warp.transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
    except rasterio.errors.RasterioError as e:
        raise InputError(where, "file", "a readable georeferenced raster", str(e)[:200]) from e
    tol = abs(t.a) / 2
    if bounds[0] > x0 + tol or bounds[2] < x1 - tol or bounds[1] > y0 + tol or bounds[3] < y1 - tol:
        expected = f"a raster covering the area ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f} in {grid.crs.to_string()})"
        raise InputError(where, "extent", expected, "(" + ", ".join(f"{b:.0f}" for b in bounds) + ")")


def _read_safe(folder: Path, area: Area, time, boa_add_offset: int | None, minimum_px: int) -> S2Tile:
    mtd = folder / "MTD_MSIL2A.xml"
    if not mtd.is_file():
        raise InputError(folder, "MTD_MSIL2A.xml", "a Sentinel-2 L2A SAFE folder with its product metadata", "none")
    hrefs = {}
    for band, res in RESOLUTION_M.items():
        found = sorted(folder.glob(f"GRANULE/*/IMG_DATA/R{res}m/*_{band}_{res}m.jp2"))
        if len(found) != 1:
            raise InputError(folder, f"band {band}", f"one file GRANULE/*/IMG_DATA/R{res}m/*_{band}_{res}m.jp2",
                             f"{len(found)} files")
        hrefs[band] = found[0]
    fields = _xml_fields(mtd, ("PRODUCT_START_TIME", "BOA_ADD_OFFSET", "PROCESSING_BASELINE", "BOA_QUANTIFICATION_VALUE"))
    if not fields["PRODUCT_START_TIME"]:
        raise InputError(mtd, "PRODUCT_START_TIME", "the acquisition time (ISO 8601)", "none")
    acquired = _product_time(fields["PRODUCT_START_TIME"][0], time, mtd)
    quantification = {float(v) for v in fields["BOA_QUANTIFICATION_VALUE"]} or {QUANTIFICATION}
    if quantification != {QUANTIFICATION}:
        raise InputError(mtd, "BOA_QUANTIFICATION_VALUE", f"{QUANTIFICATION:g}", str(sorted(quantification)))
    offsets = {int(float(v)) for v in fields["BOA_ADD_OFFSET"]}
    if len(offsets) > 1:
        raise InputError(mtd, "BOA_ADD_OFFSET", "one value for every band", str(sorted(offsets)))
    found = offsets.pop() if offsets else _baseline_offset(fields["PROCESSING_BASELINE"][:1], mtd)
    offset = choose_boa_add_offset(mtd, found, "MTD_MSIL2A.xml", boa_add_offset, acquired)
    return _stack(hrefs, folder, area, acquired, offset, minimum_px)


def _read_stac(href: str, area: Area, time, boa_add_offset: int | None, minimum_px: int) -> S2Tile:
    import pystac

    try:
        item = pystac.Item.from_file(href)
    except Exception as e:  # pystac raises JSON, IO and STAC validation errors of many types
        raise InputError(href, "STAC item", "a readable STAC Item JSON (local path or URL)", f"{type(e).__name__}: {e}"[:200]) from e
    hrefs = {}
    for band, names in STAC_ASSETS.items():
        name = next((n for n in names if n in item.assets), None)
        if name is None:
            raise InputError(href, f"asset for band {band}", f"an asset named {' or '.join(names)}", f"assets {sorted(item.assets)}")
        hrefs[band] = item.assets[name].get_absolute_href()
    if item.datetime is None:
        raise InputError(href, "datetime", "the item's acquisition time", "null")
    acquired = _product_time(item.datetime.isoformat(), time, href)
    props = item.properties
    if props.get("earthsearch:boa_offset_applied") is True:
        found = 0  # Earth Search already added BOA_ADD_OFFSET to its DN
    else:
        found = _baseline_offset([props["s2:processing_baseline"]] if "s2:processing_baseline" in props else [], href)
    offset = choose_boa_add_offset(href, found, "the item's properties", boa_add_offset, acquired)
    return _stack(hrefs, href, area, acquired, offset, minimum_px)


def _baseline_offset(baselines: list[str], where) -> int | None:
    """BOA_ADD_OFFSET implied by a processing baseline ("04.00" on: -1000), None without one."""
    if not baselines:
        return None
    try:
        return BASELINE_04_OFFSET if float(baselines[0]) >= 4.0 else 0
    except ValueError as e:
        raise InputError(where, "processing baseline", "a number such as 05.09", repr(baselines[0])) from e


def _product_time(text: str, given, where) -> np.datetime64:
    """The product's acquisition time; `given` (the --acquired argument) must agree with it to the second."""
    acquired = utc_time(text.replace("Z", "+00:00"), where, "acquisition time")
    if given is not None and abs(np.datetime64(given, "ns") - acquired) >= np.timedelta64(1, "s"):
        raise InputError(where, "acquisition time", f"{acquired} (from the product)", f"argument {given}")
    return acquired


def _xml_fields(path: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The text of every element of `path` named one of `names` (namespaces ignored) -> `{name: [text, ...]}`."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise InputError(path, "XML", "Sentinel-2 L2A product metadata", str(e)[:120]) from e
    out: dict[str, list[str]] = {n: [] for n in names}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in out and el.text and el.text.strip():
            out[tag].append(el.text.strip())
    return out


def _stack(hrefs: dict[str, str | Path], where, area: Area, acquired: np.datetime64, offset: int,
           minimum_px: int) -> S2Tile:
    """The bands `hrefs` (`S2_BANDS` and SCL) on B02's grid cut to `area` -> `S2Tile` (reflectance, mask)."""
    with rasterio.open(hrefs["B02"]) as src:
        if src.crs is None:
            raise InputError(hrefs["B02"], "CRS", "a georeferenced band", "none")
        full = TileGrid(src.crs, src.transform, src.shape)
    window = area_window(full, area, where, minimum_px)
    grid = TileGrid(full.crs, rasterio.windows.transform(window, full.transform), (window.height, window.width))
    dn = np.stack([warp_onto(hrefs[b], grid, Resampling.bilinear, hrefs[b], NODATA_DN) for b in S2_BANDS])
    scl = warp_onto(hrefs["SCL"], grid, Resampling.nearest, hrefs["SCL"], 0)
    mask = np.isnan(dn).any(0) | np.isnan(scl) | np.isin(scl, SCL_MASKED)
    reflectance = dn  # in place: one float32 copy of the area's bands at a time
    reflectance += np.float32(offset)
    reflectance /= np.float32(QUANTIFICATION)
    reflectance[:, mask] = np.nan
    x, y = grid.centres()
    coords = {"y": y, "x": x}
    da = xr.DataArray(reflectance, dims=("band", "y", "x"), coords={"band": list(S2_BANDS), **coords},
                      name="reflectance", attrs={"units": "1", "long_name": "surface reflectance"})
    da = da.rio.write_crs(grid.crs).rio.write_transform(grid.transform).rio.write_nodata(np.nan, encoded=False)
    m = xr.DataArray(mask, dims=("y", "x"), coords=coords, name="mask").rio.write_crs(grid.crs)
    return S2Tile(da, m, acquired, offset, Path(str(where)))
