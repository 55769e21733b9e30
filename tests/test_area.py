"""Generation over an area (issue 16): a 448 x 448 px scene mosaicked from a real Sentinel-2 tile, written as a
GeoTIFF, a SAFE-like folder (JPEG2000 bands at 10, 20 and 60 m, SCL, MTD_MSIL2A.xml) and a STAC item of local COGs;
one seamless field with the scene's CRS, NaN where masked, ordered quantiles; bad input exits 2 leaving no output;
`--gfs auto` from a Herbie cache written here. All offline, with the tiny random checkpoint of model_support.

The scene is the tile 38D_378R_2_3 and its mirror images, 2 x 2 (each edge meets its own mirror, so the scene has
no seam of its own), on the tile's UTM grid grown to 448 x 448 px."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.drivers
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

from model_support import one_thread, write_small_checkpoint  # noqa: F401  (fixture: one torch thread)
from test_gfs import write_t2m_as
from tm_weather.area import Blend, blend_window, tile_starts
from tm_weather.cli import main
from tm_weather.errors import EXIT_INPUT, EXIT_OK
from tm_weather.lexicon import S2_BANDS
from tm_weather.sources.s2_product import RESOLUTION_M, STAC_ASSETS

NAME = "38D_378R_2_3"
ACQUIRED = "2023-06-10T07:46:21"
VALID = "2023-06-10T10:00"
CLOUD = np.s_[40:120, 300:400]  # SCL 9 (cloud, high probability) on these 10 m pixels
SHADOW = np.s_[130:150, 300:400]  # SCL 3 (cloud shadow)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ck")
    write_small_checkpoint(folder)
    return folder


@pytest.fixture(scope="module")
def scene():
    """(DN `(12, 448, 448)` uint16 without offset, the grid's profile, the DEM `(448, 448)` int16)."""
    tiles = Path(__file__).parent / "data" / "sentinel2" / "terramind-examples"

    def mosaic(path):
        with rasterio.open(path) as src:
            a, profile = src.read(), src.profile
        top = np.concatenate([a, a[:, :, ::-1]], axis=2)
        return np.concatenate([top, top[:, ::-1]], axis=1), profile

    dn, profile = mosaic(tiles / "S2L2A" / f"{NAME}.tif")
    dem, _ = mosaic(tiles / "DEM" / f"{NAME}.tif")
    profile.update(width=448, height=448)
    return dn.astype(np.uint16), profile, dem[0]


def write_geotiff(path, dn, profile, tagged=True):
    profile = {**profile, "count": len(dn), "dtype": str(dn.dtype)}
    with rasterio.open(path, "w", **profile) as f:
        f.write(dn)
        if tagged:
            f.update_tags(datetime=ACQUIRED)
    return path


def coarse(band: np.ndarray, transform: Affine, res: int, resampling=Resampling.average) -> tuple[np.ndarray, Affine]:
    """A 10 m band `(448, 448)` at `res` m (covering it: 60 m rounds up)."""
    n = -(-band.shape[0] * 10 // res)
    dst_transform = Affine(res, 0, transform.c, 0, -res, transform.f)
    out = np.zeros((n, n), band.dtype)
    reproject(band, out, src_transform=transform, dst_transform=dst_transform, src_crs="EPSG:32736",
              dst_crs="EPSG:32736", resampling=resampling)
    return out, dst_transform


def scl_10m() -> np.ndarray:
    scl = np.full((448, 448), 4, np.uint8)  # vegetation
    scl[CLOUD], scl[SHADOW] = 9, 3
    return scl


def write_safe(folder, scene, skip=(), scl=None):
    """A SAFE-like folder: JP2 bands (DN with the baseline-04 offset +1000) at their resolutions, SCL at 20 m, and
    MTD_MSIL2A.xml with PRODUCT_START_TIME and BOA_ADD_OFFSET -1000."""
    if "JP2OpenJPEG" not in rasterio.drivers.raster_driver_extensions().values():
        # a GeoTIFF named .jp2 would not exercise the JPEG2000 path that real SAFE folders take
        pytest.skip("GDAL has no JP2OpenJPEG driver here: cannot write a SAFE folder's JPEG2000 bands")
    dn, profile, _ = scene
    img = folder / "GRANULE" / "L2A_T36MZA_A000000_20230610T074621" / "IMG_DATA"
    bands = {b: dn[i] + 1000 for i, b in enumerate(S2_BANDS)} | {"SCL": scl_10m() if scl is None else scl}
    for band, res in RESOLUTION_M.items():
        if band in skip:
            continue
        data, transform = (bands[band], profile["transform"]) if res == 10 else coarse(
            bands[band], profile["transform"], res, Resampling.nearest if band == "SCL" else Resampling.average)
        path = img / f"R{res}m" / f"T36MZA_20230610T074621_{band}_{res}m.jp2"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="JP2OpenJPEG", width=data.shape[1], height=data.shape[0], count=1,
                           dtype=str(data.dtype), crs=profile["crs"], transform=transform, QUALITY=100,
                           REVERSIBLE="YES") as f:
            f.write(data, 1)
    offsets = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
    (folder / "MTD_MSIL2A.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/'
        'PSD/User_Product_Level-2A.xsd"><n1:General_Info><Product_Info><PRODUCT_START_TIME>'
        f'{ACQUIRED}.024Z</PRODUCT_START_TIME><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE></Product_Info>'
        '<Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000'
        f'</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST><BOA_ADD_OFFSET_VALUES_LIST>{offsets}'
        '</BOA_ADD_OFFSET_VALUES_LIST></Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>')
    return folder


def write_stac(folder, scene, skip=()):
    """A STAC item as Earth Search serves it (asset names blue, nir08, scl...; offset already applied) whose hrefs
    are COGs beside it (relative hrefs)."""
    import pystac

    dn, profile, _ = scene
    folder.mkdir()
    bands = {b: dn[i] for i, b in enumerate(S2_BANDS)} | {"SCL": scl_10m()}
    item = pystac.Item("S2B_36MZA_20230610_0_L2A", geometry=None, bbox=None, datetime=pd.Timestamp(ACQUIRED + "Z").to_pydatetime(),
                       properties={"earthsearch:boa_offset_applied": True, "s2:processing_baseline": "05.09"})
    for band, res in RESOLUTION_M.items():
        name = STAC_ASSETS[band][1]
        if name in skip:
            continue
        data, transform = (bands[band], profile["transform"]) if res == 10 else coarse(
            bands[band], profile["transform"], res, Resampling.nearest if band == "SCL" else Resampling.average)
        with rasterio.open(folder / f"{name}.tif", "w", driver="COG", width=data.shape[1], height=data.shape[0],
                           count=1, dtype=str(data.dtype), crs=profile["crs"], transform=transform) as f:
            f.write(data, 1)
        item.add_asset(name, pystac.Asset(f"./{name}.tif", media_type=pystac.MediaType.COG))
    item.set_self_href(str(folder / "item.json"))
    item.make_asset_hrefs_relative()
    item.save_object(include_self_link=False)
    return folder / "item.json"


def args(shipped, s2, out, *extra):
    return ["generate", "--s2", str(s2), "--time", VALID, "--members", "2", "--steps", "1",
            "--checkpoint", str(shipped / "t.safetensors"), "--tokenizers", str(shipped), "--out", str(out), *extra]


def seam_ratio(field: np.ndarray, boundaries: list[int]) -> float:
    """The largest mean |difference| between neighbouring columns across the tile `boundaries`, over the mean
    |difference| between neighbouring columns in the whole field (finite pixels)."""
    step = np.abs(np.diff(field, axis=1))
    typical = np.nanmean(step)
    return max(float(np.nanmean(step[:, b - 1])) for b in boundaries) / float(typical)


# ------------------------------------------------------------------------------------------ tiling and blending


def test_tiles_cover_the_area_with_the_overlap_and_a_blend_of_constants_is_constant():
    assert tile_starts(224) == [0] and tile_starts(448) == [0, 112, 224] and tile_starts(1000)[-1] == 776
    starts = tile_starts(1000)
    assert all(224 - (b - a) >= 64 for a, b in zip(starts, starts[1:]))
    blend = Blend((448, 448), (0.1, 0.9), members=2)
    for r in tile_starts(448):
        for c in tile_starts(448):
            blend.add(r, c, np.stack([np.full((224, 224), 280.0), np.full((224, 224), 282.0)]))
    np.testing.assert_allclose(blend.mean(), 281.0, atol=1e-4)
    np.testing.assert_allclose(blend.spread(), 1.0, atol=1e-3)
    np.testing.assert_allclose(blend.quantile()[0], 280.2, atol=1e-4)
    np.testing.assert_allclose(blend.member_fields()[1], 282.0, atol=1e-4)
    w = blend_window()
    assert w.min() > 0 and w[64:160, 64:160].min() == 1


def test_two_tiles_of_different_levels_meet_without_a_step():
    blend = Blend((224, 384), ())
    blend.add(0, 0, np.full((1, 224, 224), 280.0))
    blend.add(0, 160, np.full((1, 224, 224), 281.0))
    row = blend.mean()[100]
    assert row[0] == pytest.approx(280.0) and row[-1] == pytest.approx(281.0)
    steps = np.diff(row)
    assert (steps >= -1e-5).all() and steps.max() < 3 / 64  # a smooth ramp over the 64 px overlap, no jump


# --------------------------------------------------------------------------------------------- the must-shows


def test_a_448_px_scene_gives_one_seamless_448_px_field_with_its_crs(shipped, scene, tmp_path):
    dn, profile, dem = scene
    s2 = write_geotiff(tmp_path / "scene.tif", dn, profile)
    demfile = write_geotiff(tmp_path / "dem.tif", dem[None], profile, tagged=False)
    out = tmp_path / "t2m.nc"
    assert main(args(shipped, s2, out, "--dem", str(demfile), "--quantiles", "0.1", "0.5", "0.9")) == EXIT_OK
    with xr.open_dataset(out) as ds:
        assert ds["t2m_mean"].shape == (448, 448) and ds.rio.crs == profile["crs"]
        assert ds["t2m_mean"].attrs["units"] == "K" and ds.attrs["tiles"] == 9 and "t2m" not in ds
        mean, q = ds["t2m_mean"].values, ds["t2m_quantile"].values
        assert np.isfinite(mean).all() and (np.diff(q, axis=0) >= 0).all()
        assert (ds["t2m_spread"].values >= 0).all()
        np.testing.assert_allclose(ds.x.values[[0, -1]], profile["transform"].c + np.array([5, 4475]))
    edges = sorted({s for s in tile_starts(448)[1:]} | {s + 224 for s in tile_starts(448)[:-1]})
    assert seam_ratio(mean, edges) <= 2 and seam_ratio(mean.T, edges) <= 2


def test_the_same_from_a_safe_folder_and_a_stac_item_nan_where_the_scl_masks(shipped, scene, tmp_path):
    dn, profile, _ = scene
    safe = write_safe(tmp_path / "S2B_MSIL2A_20230610T074621_N0509_R135_T36MZA.SAFE", scene)
    item = write_stac(tmp_path / "stac", scene)
    fields = {}
    for name, s2 in {"safe": safe, "stac": item}.items():
        out = tmp_path / f"{name}.tif"
        assert main(args(shipped, s2, out, "--save-members", "--overlap", "0")) == EXIT_OK  # 4 tiles: faster
        tif = rioxarray.open_rasterio(out)
        assert tif.shape == (2 + 3 + 2, 448, 448) and tif.rio.crs == profile["crs"]  # mean, spread, 3 quantiles, 2 members
        assert tif.attrs["long_name"][0] == "t2m ensemble mean" and tif.attrs["input_s2_acquired"].startswith(ACQUIRED)
        with rasterio.open(out) as f:
            assert f.overviews(1) or f.profile.get("tiled")  # cloud-optimized: tiled
        mean = tif.values[0]
        assert np.isnan(mean[CLOUD]).all() and np.isnan(mean[SHADOW]).all()
        clear = np.ones((448, 448), bool)
        clear[CLOUD] = clear[SHADOW] = False
        clear[:, 296:404] &= False  # SCL at 20 m: the masks' edges round to 20 m pixels
        assert np.isfinite(mean[clear]).all()
        fields[name] = mean
    # same reflectance (SAFE: DN + 1000 with BOA_ADD_OFFSET -1000; STAC: offset applied): the same field
    np.testing.assert_allclose(fields["safe"], fields["stac"], atol=1e-3, equal_nan=True)


def test_safe_reflectance_matches_the_geotiff(scene, tmp_path):
    from tm_weather.sources.s2_product import read_scene

    dn, profile, _ = scene
    safe = read_scene(write_safe(tmp_path / "P.SAFE", scene))
    tif = read_scene(write_geotiff(tmp_path / "scene.tif", dn, profile), boa_add_offset=0)
    assert safe.boa_add_offset == -1000 and safe.time == np.datetime64(ACQUIRED + ".024", "ns")
    clear = ~safe.mask.values
    b02 = list(S2_BANDS).index("B02")
    np.testing.assert_allclose(safe.reflectance.values[b02][clear], tif.reflectance.values[b02][clear], rtol=1e-6)


def test_bbox_and_aoi_cut_the_area(shipped, scene, tmp_path):
    dn, profile, _ = scene
    s2 = write_geotiff(tmp_path / "scene.tif", dn, profile)
    from tm_weather.series import TileGrid

    grid = TileGrid(profile["crs"], profile["transform"], (448, 448))
    lon, lat = grid.corners_lonlat()
    # the north-west quarter's interior, in degrees
    west, north = lon[0] + 0.0002, lat[0] - 0.0002
    east, south = west + 0.002, north - 0.002
    out = tmp_path / "bbox.nc"
    assert main(args(shipped, s2, out, "--bbox", f"{west},{south},{east},{north}")) == EXIT_OK
    with xr.open_dataset(out) as ds:
        ny, nx = ds["t2m_mean"].shape
        assert 20 <= ny <= 240 and 20 <= nx <= 240 and ds.attrs["tiles"] == 1  # one tile grown around the area
    polygon = {"type": "Polygon", "coordinates": [[[west, north], [east, north], [west, south], [west, north]]]}
    (tmp_path / "aoi.geojson").write_text(json.dumps({"type": "Feature", "geometry": polygon, "properties": {}}))
    out = tmp_path / "aoi.nc"
    assert main(args(shipped, s2, out, "--aoi", str(tmp_path / "aoi.geojson"))) == EXIT_OK
    with xr.open_dataset(out) as ds:
        mean = ds["t2m_mean"].values
        assert np.isfinite(mean[1, 1]) and np.isnan(mean[-2, -2])  # the triangle's NW corner in, SE corner out


def test_gfs_auto_from_herbies_cache_offline(shipped, scene, tmp_path, no_network):
    dn, profile, _ = scene
    s2 = write_geotiff(tmp_path / "scene.tif", dn, profile)
    cache = tmp_path / "herbie"
    day = np.datetime64(VALID, "D")
    for cycle in (0, 6, 12, 18):  # the latest run for every hour of the day: leads 0-5 (Herbie's pgrb2.0p25 layout)
        run = day.astype("datetime64[h]") + np.timedelta64(cycle, "h")
        for fxx in range(6):
            write_t2m_as(cache / "gfs" / "20230610" / f"gfs.t{cycle:02d}z.pgrb2.0p25.f{fxx:03d}", run, fxx)
    out = tmp_path / "t2m.nc"
    assert main(args(shipped, s2, out, "--gfs", "auto", "--gfs-cache", str(cache), "--overlap", "0")) == EXIT_OK
    with xr.open_dataset(out) as ds:
        assert ds.attrs["input_gfs"] == "auto" and np.isfinite(ds["t2m_mean"]).all()
        assert ds.attrs["regression_sha256"] and ds.attrs["checkpoint_sha256"]
        assert "gfs" in ds.attrs["conditioned_on"].split()


# ----------------------------------------------------------------------------------------------- bad input


def test_bad_input_exits_2_naming_the_file_and_leaves_no_output(shipped, scene, tmp_path, capsys):
    dn, profile, dem = scene
    s2 = write_geotiff(tmp_path / "scene.tif", dn, profile)
    nodata = write_geotiff(tmp_path / "nodata.tif", np.zeros_like(dn), profile)
    cloudy = write_safe(tmp_path / "CLOUDY.SAFE", scene, scl=np.full((448, 448), 9, np.uint8))
    far_dem = write_geotiff(tmp_path / "dem_far.tif", dem[None, :100, :100], {**profile, "width": 100, "height": 100},
                            tagged=False)
    safe = write_safe(tmp_path / "NOB8A.SAFE", scene, skip=("B8A",))
    item = write_stac(tmp_path / "stac", scene, skip=("nir08",))
    cases = {
        "SAFE missing a band": ([safe], f"{safe}: band B8A: expected one file GRANULE/*/IMG_DATA/R20m/*_B8A_20m.jp2"),
        "STAC missing an asset": ([item], f"{item}: asset for band B8A: expected an asset named B8A or nir08"),
        "area outside": ([s2, "--bbox", "10,10,10.1,10.1"], "--bbox: area: expected an area overlapping the scene"),
        "all cloud": ([cloudy], f"{cloudy}: clear pixels: expected some pixels"),
        "all nodata": ([nodata], f"{nodata}: clear pixels: expected some pixels"),
        "DEM not covering": ([s2, "--dem", str(far_dem)], f"{far_dem}: extent: expected a raster covering the area"),
    }
    for name, (extra, message) in cases.items():
        out = tmp_path / "out" / "t2m.nc"
        assert main(args(shipped, extra[0], out, *extra[1:])) == EXIT_INPUT, name
        assert message in capsys.readouterr().err, name
        assert not (tmp_path / "out").exists(), name


def test_a_dem_in_another_crs_is_reprojected_onto_the_scene_grid(scene, tmp_path):
    from rasterio.warp import calculate_default_transform

    from tm_weather.series import TileGrid
    from tm_weather.sources.s2_product import warp_onto

    _, profile, dem = scene
    src = write_geotiff(tmp_path / "dem.tif", dem[None], profile, tagged=False)
    transform, width, height = calculate_default_transform(profile["crs"], "EPSG:4326", 448, 448,
                                                           *rasterio.open(src).bounds)
    lonlat = np.zeros((height, width), np.float32)
    reproject(dem.astype(np.float32), lonlat, src_transform=profile["transform"], src_crs=profile["crs"],
              dst_transform=transform, dst_crs="EPSG:4326", resampling=Resampling.bilinear, dst_nodata=np.nan)
    other = tmp_path / "dem_lonlat.tif"
    with rasterio.open(other, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs="EPSG:4326", transform=transform, nodata=np.nan) as f:
        f.write(lonlat, 1)
    grid = TileGrid(profile["crs"], profile["transform"], (448, 448))
    back = warp_onto(other, grid, Resampling.bilinear, other)
    inner = np.s_[4:-4, 4:-4]
    assert np.isfinite(back[inner]).all()
    assert np.median(np.abs(back[inner] - dem[inner])) < 0.05 * np.ptp(dem) + 1  # m: two bilinear resamplings


def test_import_tm_weather_stays_light_and_exports_generate():
    import subprocess
    import sys

    code = ("import sys, tm_weather; f = tm_weather.generate; from tm_weather.api import generate; "
            "assert f is generate and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:3]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mostly_masked_tiles_are_skipped_and_stay_nan(shipped, scene, tmp_path):
    dn, profile, _ = scene
    left = dn.copy()
    left[:, :, :300] = 0  # nodata: the tiles starting at columns 0 and 112 have under half their pixels clear
    s2 = write_geotiff(tmp_path / "left.tif", left, profile)
    out = tmp_path / "t2m.nc"
    assert main(args(shipped, s2, out)) == EXIT_OK
    with xr.open_dataset(out) as ds:
        mean = ds["t2m_mean"].values
        assert ds.attrs["tiles"] == 3 and ds.attrs["tiles_skipped_masked"] == 6
        assert np.isnan(mean[:, :300]).all() and np.isfinite(mean[:, 300:]).all()
