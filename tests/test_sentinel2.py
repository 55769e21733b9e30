"""The Sentinel-2 L2A, DEM, LULC and NDVI readers on the real TerraMind example tiles (tests/data/PROVENANCE.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from tm_weather.errors import InputError
from tm_weather.lexicon import S2_BANDS
from tm_weather.sources.sentinel2 import S2Tile, read_dem, read_lulc, read_ndvi, read_s2l2a

ROOT = Path(__file__).parent / "data/sentinel2/terramind-examples"
#: PROVENANCE.md's facts: tile -> (EPSG code, acquisition time UTC).
TILES = {
    "282D_485L_3_3": (32722, "2021-07-23T13:22:41"),
    "38D_378R_2_3": (32736, "2023-06-10T07:46:21"),
    "433D_629L_3_1": (32718, "2020-04-08T14:37:29"),
    "609U_541L_3_0": (32616, "2020-01-11T16:46:49"),
    "637U_59R_1_3": (32632, "2017-10-30T10:41:51"),
}
DENMARK = "637U_59R_1_3"


def _path(kind: str, name: str = DENMARK) -> Path:
    return ROOT / kind / f"{name}.tif"


def _dn(name: str = DENMARK) -> np.ndarray:
    with rasterio.open(_path("S2L2A", name)) as src:
        return src.read()


def _write(dst: Path, like: Path, data: np.ndarray, tags: dict | None = None, band_tags: dict | None = None,
           **profile) -> Path:
    """A GeoTIFF with `like`'s profile (overridden by `profile`), `data` `(band, y, x)` and the given tags."""
    with rasterio.open(like) as src:
        prof = src.profile | {"count": data.shape[0], "dtype": data.dtype.name} | profile
    dst.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(dst, "w", **prof) as out:
        out.write(data)
        out.update_tags(**(tags or {}))
        for band in range(1, data.shape[0] + 1):
            out.update_tags(band, **(band_tags or {}))
    return dst


def _ndvi(tile: S2Tile) -> np.ndarray:
    nir, red = (tile.reflectance.sel(band=b).values.astype(np.float64) for b in ("B08", "B04"))
    with np.errstate(divide="ignore", invalid="ignore"):  # B08 + B04 can be 0 with a wrong offset
        return (nir - red) / (nir + red)


@pytest.mark.parametrize("name", TILES)
def test_real_tiles_have_provenance_crs_time_and_reflectance(name):
    epsg, time = TILES[name]
    tile = read_s2l2a(_path("S2L2A", name), boa_add_offset=0)
    assert tile.grid.crs.to_epsg() == epsg and tile.reflectance.rio.crs.to_epsg() == epsg
    assert tile.time == np.datetime64(time, "ns") and tile.boa_add_offset == 0
    assert tile.reflectance.dims == ("band", "y", "x") and tile.reflectance.shape == (12, 224, 224)
    assert tuple(tile.reflectance.band.values) == S2_BANDS and tile.reflectance.dtype == np.float32
    assert not tile.mask.values.any()  # these tiles have no DN 0 (nodata)
    np.testing.assert_array_equal(tile.reflectance.values, (_dn(name) / np.float32(10000)).astype(np.float32))


@pytest.mark.parametrize("name", TILES)
def test_ndvi_from_reflectance_reproduces_ndvi_files_only_without_offset(name):
    """The NDVI files are float16-rounded (-1..1): per pixel they match to half a float16 step (<= 2.45e-4,
    <= 1.23e-4 where |NDVI| < 0.5); PROVENANCE's 2e-4 holds for all but the |NDVI| >= 0.5 pixels."""
    with rasterio.open(_path("NDVI", name)) as src:
        stored = src.read(1)
    half_step = np.spacing(np.abs(stored).astype(np.float16)).astype(np.float64) / 2 + 1e-6
    error = np.abs(_ndvi(read_s2l2a(_path("S2L2A", name), boa_add_offset=0)) - stored)
    assert np.all(error <= half_step) and np.all(error[np.abs(stored) < 0.5] < 2e-4)
    with_offset = _ndvi(read_s2l2a(_path("S2L2A", name), boa_add_offset=-1000))
    assert np.nanmax(np.abs(with_offset - stored)) > 0.05


def test_offset_defaults_to_acquisition_date():
    """No tags, no argument: the date decides (2023 -> -1000, which is wrong for this harmonised tile)."""
    recent, old = read_s2l2a(_path("S2L2A", "38D_378R_2_3")), read_s2l2a(_path("S2L2A", DENMARK))
    assert (recent.boa_add_offset, old.boa_add_offset) == (-1000, 0)
    np.testing.assert_allclose(recent.reflectance.values, (_dn("38D_378R_2_3") - 1000) / 10000, atol=1e-6)


@pytest.mark.parametrize(
    ("tags", "band_tags"),
    [
        ({"BOA_ADD_OFFSET": "-1000"}, None),
        (None, {"BOA_ADD_OFFSET": "-1000"}),
        ({"PROCESSING_BASELINE": "05.09"}, None),
    ],
)
def test_offset_from_tags_wins_and_a_contradicting_argument_raises(tmp_path, tags, band_tags):
    """A baseline >= 04.00 product (DN + 1000) written with its tags reads back to the same reflectance."""
    shifted = _write(tmp_path / "S2L2A" / f"{DENMARK}.tif", _path("S2L2A"), _dn() + np.int16(1000), tags, band_tags)
    tile = read_s2l2a(shifted, time="2017-10-30T10:41:51")
    assert tile.boa_add_offset == -1000
    original = read_s2l2a(_path("S2L2A"), boa_add_offset=0)
    np.testing.assert_array_equal(tile.reflectance.values, original.reflectance.values)
    with pytest.raises(InputError, match="BOA_ADD_OFFSET"):
        read_s2l2a(shifted, time="2017-10-30T10:41:51", boa_add_offset=0)


def test_old_baseline_tag_means_no_offset(tmp_path):
    old = _write(tmp_path / "S2L2A" / "t.tif", _path("S2L2A"), _dn(), {"PROCESSING_BASELINE": "02.14"})
    assert read_s2l2a(old, time="2023-06-10").boa_add_offset == 0  # the tag beats the date


def test_time_from_tags_siblings_or_argument(tmp_path):
    lonely = tmp_path / "S2L2A" / f"{DENMARK}.tif"
    lonely.parent.mkdir()
    shutil.copy(_path("S2L2A"), lonely)
    with pytest.raises(InputError, match=f"{DENMARK}.tif: acquisition time"):
        read_s2l2a(lonely)
    assert read_s2l2a(lonely, time="2017-10-30T12:41:51+02:00").time == np.datetime64("2017-10-30T10:41:51", "ns")
    (tmp_path / "LULC").mkdir()
    shutil.copy(_path("LULC"), tmp_path / "LULC" / lonely.name)  # a sibling with a datetime tag
    assert read_s2l2a(lonely).time == np.datetime64(TILES[DENMARK][1], "ns")
    with pytest.raises(InputError, match="argument 2017-10-31"):
        read_s2l2a(lonely, time="2017-10-31T10:41:51")
    tagged = _write(tmp_path / "x" / "t.tif", _path("S2L2A"), _dn(), {"datetime": "2019-05-01T10:00:00Z"})
    assert read_s2l2a(tagged).time == np.datetime64("2019-05-01T10:00", "ns")


def test_nodata_and_scl_clouds_become_nan_and_mask_never_zero(tmp_path):
    dn = _dn()
    dn[:, 0:5, 0:7] = 0  # ESA's nodata DN (the file declares none)
    scl = np.full((1, 224, 224), 4, np.uint8)  # vegetation
    for k, cls in enumerate((3, 8, 9, 10, 6, 11)):  # cloud shadow, clouds, cirrus; then water, snow (kept)
        scl[0, 100 + k, 50:60] = cls
    s2 = _write(tmp_path / "S2L2A" / f"{DENMARK}.tif", _path("S2L2A"), dn)
    scl_path = _write(tmp_path / "scl.tif", _path("S2L2A"), scl)
    tile = read_s2l2a(s2, time=TILES[DENMARK][1], boa_add_offset=0, scl=scl_path)
    expected = np.zeros((224, 224), bool)
    expected[0:5, 0:7] = True
    expected[100:104, 50:60] = True
    np.testing.assert_array_equal(tile.mask.values, expected)
    assert np.isnan(tile.reflectance.values[:, expected]).all()
    clear = (dn / np.float32(10000)).astype(np.float32)[:, ~expected]
    np.testing.assert_array_equal(tile.reflectance.values[:, ~expected], clear)
    assert (tile.reflectance.values != 0).all()


def test_bad_tiles_raise_input_error_naming_the_file(tmp_path):
    with pytest.raises(InputError, match=r"S2RGB.*band count: expected 12"):
        read_s2l2a(_path("S2RGB"))
    no_crs = _write(tmp_path / "nocrs.tif", _path("S2L2A"), _dn(), crs=None)
    with pytest.raises(InputError, match="nocrs.tif: CRS"):
        read_s2l2a(no_crs, time="2020-01-01")
    other_grid = _write(tmp_path / "scl.tif", _path("S2L2A", "282D_485L_3_3"), np.ones((1, 224, 224), np.uint8))
    with pytest.raises(InputError, match="scl.tif: grid"):
        read_s2l2a(_path("S2L2A"), boa_add_offset=0, scl=other_grid)


@pytest.mark.parametrize("name", ["609U_541L_3_0", "38D_378R_2_3"])
def test_dem_lulc_ndvi_on_the_tile_grid(name):
    grid = read_s2l2a(_path("S2L2A", name), boa_add_offset=0).grid  # the DEM transform differs by ~1e-9 m: same grid
    dem, lulc, ndvi = (read(_path(kind, name), grid) for read, kind in
                       ((read_dem, "DEM"), (read_lulc, "LULC"), (read_ndvi, "NDVI")))
    raw = []
    for kind in ("DEM", "LULC", "NDVI"):
        with rasterio.open(_path(kind, name)) as src:
            raw.append(src.read(1))
    assert (dem.dims, dem.dtype, dem.attrs["units"]) == (("y", "x"), np.float32, "m")
    assert lulc.dtype == np.uint8 and ndvi.dtype == np.float32
    np.testing.assert_array_equal(dem.values, raw[0].astype(np.float32))
    np.testing.assert_array_equal(lulc.values, raw[1])
    np.testing.assert_array_equal(ndvi.values, raw[2].astype(np.float32))
    if name == "609U_541L_3_0":
        assert (lulc.values == 7).all()  # all snow/ice, as PROVENANCE says


def test_dem_nodata_is_nan_and_grid_mismatch_raises(tmp_path):
    grid = read_s2l2a(_path("S2L2A"), boa_add_offset=0).grid
    with rasterio.open(_path("DEM")) as src:
        heights = src.read()
    heights[0, :3, :3] = -32768
    dem = read_dem(_write(tmp_path / "dem.tif", _path("DEM"), heights, nodata=-32768), grid)
    assert np.isnan(dem.values[:3, :3]).all() and np.isfinite(dem.values).sum() == 224 * 224 - 9
    one_pixel_east = grid.transform @ Affine.translation(1, 0)
    shifted = _write(tmp_path / "shifted.tif", _path("DEM"), heights, transform=one_pixel_east)
    with pytest.raises(InputError, match="shifted.tif: grid: expected the Sentinel-2 tile's grid, found transform"):
        read_dem(shifted, grid)
    with pytest.raises(InputError, match="LULC.*grid.*CRS"):
        read_lulc(_path("LULC", "282D_485L_3_3"), grid)
    with pytest.raises(InputError, match="uint8"):
        read_lulc(_path("DEM"), grid)


def test_s2tile_validates_itself():
    tile = read_s2l2a(_path("S2L2A"), boa_add_offset=0)
    with pytest.raises(InputError, match="NaN in every band exactly where mask"):
        S2Tile(tile.reflectance, tile.mask | True, tile.time, 0, tile.path)
    with pytest.raises(InputError, match="reflectance"):
        S2Tile(tile.reflectance.astype(np.float64), tile.mask, tile.time, 0, tile.path)
