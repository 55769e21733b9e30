"""tm_weather.grib on the real GFS, ERA5 and bad-GRIB fixtures: values against ecCodes read directly, times,
grids (0..360 wrap, scanning modes, Lambert), bad input, the wgrib2 .idx (against a real NOAA line and Herbie),
byte-range reads, and `tm-weather index`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pyproj
import pytest

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip
from tm_weather import cli, grib
from tm_weather.errors import EXIT_INPUT, EXIT_OK, InputError

GFS = "gfs/gfs.t12z.pgrbf120.2p5deg.grib2"
GFS_T2M_NUMBER, GFS_T2M_OFFSET, GFS_T2M_LENGTH = 191, 2457396, 13101  # the TMP 2 m message, as ecCodes reports it
GFS_MESSAGES = 307

#: A real NOAA inventory line (HRRR, 2023-12-01 00Z, as NOAA published it; Herbie's sample_data/index_files).
REAL_NOAA_LINE = "71:37248515:d=2023120100:TMP:2 m above ground:anl:"
DATA = Path(__file__).parent / "data"


def _eccodes_t2m(path):
    """Straight from ecCodes: the first `2t` message's values (Nj, Ni), latitudes (Nj,), longitudes (Ni,)."""
    with open(path, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            try:
                if eccodes.codes_get(h, "shortName") == "2t":
                    nj, ni = eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni")
                    values = eccodes.codes_get_values(h).reshape(nj, ni)
                    lat = eccodes.codes_get_array(h, "latitudes").reshape(nj, ni)[:, 0]
                    lon = eccodes.codes_get_array(h, "longitudes").reshape(nj, ni)[0]
                    return values, lat, lon
            finally:
                eccodes.codes_release(h)
    raise AssertionError("no 2t message")


@pytest.fixture(scope="module")
def gfs_eccodes():
    """The GFS fixture's T2M straight from ecCodes (values, latitudes, longitudes), read once for the module."""
    return _eccodes_t2m(DATA / GFS)


@pytest.fixture(scope="module")
def gfs_field():
    """`grib.read_t2m` of the GFS fixture, read once for the module."""
    return grib.read_t2m(DATA / GFS)


def _gfs_t2m_bytes(data_dir) -> bytes:
    return (data_dir / GFS).read_bytes()[GFS_T2M_OFFSET : GFS_T2M_OFFSET + GFS_T2M_LENGTH]


def _edit_message(message: bytes, **keys) -> bytes:
    """A copy of one GRIB message with ecCodes keys set (`values` sets the data)."""
    h = eccodes.codes_new_from_message(message)
    try:
        values = keys.pop("values", None)
        for key, value in keys.items():
            eccodes.codes_set(h, key, value)
        if values is not None:
            eccodes.codes_set_values(h, values)
        return eccodes.codes_get_message(h)
    finally:
        eccodes.codes_release(h)


# ---------------------------------------------------------------------------------------------- reading T2M


def test_gfs_analysis_form_matches_eccodes_at_every_grid_point(gfs_field, gfs_eccodes):
    da = gfs_field
    values, lat, lon = gfs_eccodes
    assert da.dims == ("time", "y", "x") and da.shape == (1, 73, 144)
    assert da.dtype == np.float32 and da.attrs["units"] == "K" and da.rio.crs.to_epsg() == 4326
    assert da.time.values[0] == np.datetime64("2011-01-15T12:00", "ns")
    # 0..357.5 E is wrapped to -180..177.5 with x increasing; each value stays at its own longitude.
    assert da.x.values[0] == -180.0 and da.x.values[-1] == 177.5 and np.all(np.diff(da.x.values) == 2.5)
    at_eccodes_points = da.isel(time=0).sel(y=lat, x=(lon + 180) % 360 - 180)
    np.testing.assert_array_equal(at_eccodes_points.values, values.astype(np.float32))
    # La Crosse, WI is between grid points 42.5/45 N and 267.5/270 E: spot-check one corner by hand.
    assert float(da.sel(time=da.time[0], y=45.0, x=-92.5)) == np.float32(values[list(lat).index(45.0), list(lon).index(267.5)])


def test_gfs_bilinear_at_la_crosse_matches_eccodes_neighbours(gfs_field, gfs_eccodes):
    """T2M at 43.88 N, 91.25 W via the project's point extraction equals bilinear weights applied by hand to the
    four surrounding grid values read straight from ecCodes."""
    from tm_weather.series import extract_points

    values, lat, lon = gfs_eccodes
    site_lat, site_lon = 43.88, 360.0 - 91.25
    j0 = int(np.where(lat == 45.0)[0][0])  # rows run north to south: 45.0 then 42.5
    i0 = int(np.where(lon == 267.5)[0][0])
    wy = (45.0 - site_lat) / 2.5
    wx = (site_lon - 267.5) / 2.5
    reference = (
        values[j0, i0] * (1 - wy) * (1 - wx)
        + values[j0, i0 + 1] * (1 - wy) * wx
        + values[j0 + 1, i0] * wy * (1 - wx)
        + values[j0 + 1, i0 + 1] * wy * wx
    )
    got = extract_points(gfs_field, [43.88], [-91.25], ["la_crosse"])
    assert got.sizes == {"time": 1, "site": 1}
    assert float(got.values[0, 0]) == pytest.approx(reference, abs=1e-4)


def test_gfs_forecast_form_init_lead_valid(data_dir):
    da = grib.read_t2m(data_dir / GFS, form="forecast")
    assert da.dims == ("init_time", "lead_time", "y", "x") and da.shape == (1, 1, 73, 144)
    assert da.init_time.values[0] == np.datetime64("2011-01-10T12:00", "ns")
    assert da.lead_time.values[0] == np.timedelta64(120, "h")
    assert da.valid_time.values[0, 0] == np.datetime64("2011-01-15T12:00", "ns")


def test_bytes_buffer_reads_like_the_file(data_dir, gfs_field):
    assert grib.read_t2m(_gfs_t2m_bytes(data_dir)).identical(gfs_field)


def test_era5_grib1_hourly_series(data_dir):
    da = grib.read_t2m(data_dir / "era5/era5_t2m_uk_2019-03-01_21.grib")
    assert da.shape == (504, 33, 49)
    assert da.time.values[0] == np.datetime64("2019-03-01T00:00", "ns")
    assert da.time.values[-1] == np.datetime64("2019-03-21T23:00", "ns")
    assert np.all(np.diff(da.time.values) == np.timedelta64(1, "h"))
    assert (da.y.values[0], da.y.values[-1], da.x.values[0], da.x.values[-1]) == (58.0, 50.0, -10.0, 2.0)
    values, _, _ = _eccodes_t2m(data_dir / "era5/era5_t2m_uk_2019-03-01_21.grib")
    np.testing.assert_array_equal(da.values[0], values.astype(np.float32))


def test_bitmap_missing_values_are_nan(data_dir):
    path = data_dir / "bad/fields_with_missing_values.grib"
    da = grib.read_t2m(path)
    with open(path, "rb") as f:
        h = eccodes.codes_grib_new_from_file(f)
        n_missing, fill = eccodes.codes_get(h, "numberOfMissing"), eccodes.codes_get(h, "missingValue")
        eccodes.codes_release(h)
    assert n_missing > 0
    assert int(np.isnan(da.values[0]).sum()) == n_missing
    assert not np.any(da.values == fill)
    assert np.nanmin(da.values) > 170  # no fill number among the finite values


def test_south_to_north_scanning_reads_the_same_field(data_dir, gfs_field, gfs_eccodes):
    message = _gfs_t2m_bytes(data_dir)
    original = gfs_field
    values, _, _ = gfs_eccodes
    flipped = _edit_message(
        message,
        jScansPositively=1,
        latitudeOfFirstGridPointInDegrees=-90.0,
        latitudeOfLastGridPointInDegrees=90.0,
        values=values[::-1].ravel(),
    )
    da = grib.read_t2m(flipped)
    assert da.y.values[0] == -90.0 and da.y.values[-1] == 90.0
    np.testing.assert_allclose(da.sel(y=original.y).values, original.values, atol=0.01)  # re-packed: 0.01 K


#: URMA/RTMA's Lambert conformal projection (LoV 265 E, Latin1 = Latin2 = LaD = 25 N, sphere 6371229 m, first
#: point 19.228976 N 233.723448 E, scanning south to north), on a coarse 50 km grid to stay small.
LAMBERT = {
    "gridDefinitionTemplateNumber": 30, "shapeOfTheEarth": 6, "Nx": 60, "Ny": 40,
    "latitudeOfFirstGridPointInDegrees": 19.228976, "longitudeOfFirstGridPointInDegrees": 233.723448,
    "LoVInDegrees": 265.0, "LaDInDegrees": 25.0, "Latin1InDegrees": 25.0, "Latin2InDegrees": 25.0,
    "DxInMetres": 50000.0, "DyInMetres": 50000.0, "iScansNegatively": 0, "jScansPositively": 1,
    "discipline": 0, "parameterCategory": 0, "parameterNumber": 0,
    "typeOfFirstFixedSurface": 103, "scaleFactorOfFirstFixedSurface": 0, "scaledValueOfFirstFixedSurface": 2,
    "dataDate": 20240701, "dataTime": 1200, "forecastTime": 0,
}


def _lambert_t2m_message() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A GRIB2 T2M analysis on `LAMBERT`, written with ecCodes; its values are 250 K + 0.5 x latitude + 0.1 x
    longitude east. Returns the message and ecCodes' own latitudes and longitudes (Ny, Nx)."""
    h = eccodes.codes_grib_new_from_samples("GRIB2")
    try:
        for key, value in LAMBERT.items():
            eccodes.codes_set(h, key, value)
        eccodes.codes_set_values(h, np.zeros(40 * 60))  # the sample's 496 values would not fit the grid
        lat = eccodes.codes_get_array(h, "latitudes").reshape(40, 60)
        lon = eccodes.codes_get_array(h, "longitudes").reshape(40, 60)
        eccodes.codes_set_values(h, (250.0 + 0.5 * lat + 0.1 * lon).ravel())
        return eccodes.codes_get_message(h), lat, lon
    finally:
        eccodes.codes_release(h)


def test_lambert_grid_coordinates_and_values():
    message, lat, lon = _lambert_t2m_message()
    da = grib.read_t2m(message)
    assert da.shape == (1, 40, 60) and da.time.values[0] == np.datetime64("2024-07-01T12:00", "ns")
    crs = da.rio.crs.to_dict()
    assert (crs["proj"], crs["lon_0"], crs["lat_0"], crs["lat_1"], crs["lat_2"], crs["R"]) == ("lcc", 265, 25, 25, 25, 6371229)
    np.testing.assert_allclose(np.diff(da.x.values), 50000.0)
    np.testing.assert_allclose(np.diff(da.y.values), 50000.0)  # south to north
    # The metre coordinates, projected back with pyproj, land on ecCodes' latitude/longitude of every point.
    crs = pyproj.CRS.from_wkt(da.rio.crs.to_wkt())
    to_lonlat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    back_lon, back_lat = to_lonlat.transform(*np.meshgrid(da.x.values, da.y.values))
    np.testing.assert_allclose(back_lat, lat, atol=1e-6)
    np.testing.assert_allclose((back_lon - lon + 180) % 360 - 180, 0, atol=1e-6)
    np.testing.assert_allclose(da.latitude.values, lat)
    np.testing.assert_allclose(da.longitude.values, (lon + 180) % 360 - 180)
    np.testing.assert_allclose(da.values[0], 250.0 + 0.5 * lat + 0.1 * lon, atol=0.01)


# ------------------------------------------------------------------------------------------------ bad input


def test_corrupted_fixture_is_input_error(data_dir):
    path = data_dir / "bad/era5-levels-corrupted.grib"
    with pytest.raises(InputError) as e:
        grib.read_t2m(path)
    assert e.value.where == path and "GRIB message 1" in e.value.field


@pytest.mark.parametrize("cut", [GFS_T2M_OFFSET + 5000, GFS_T2M_OFFSET + GFS_T2M_LENGTH - 1, 100])
def test_truncated_file_is_input_error(data_dir, tmp_path, cut):
    path = tmp_path / "truncated.grib2"
    path.write_bytes((data_dir / GFS).read_bytes()[:cut])
    with pytest.raises(InputError) as e:
        grib.read_t2m(path)
    assert e.value.where == path and e.value.expected == "a complete, decodable GRIB message"


def test_truncated_buffer_is_input_error(data_dir):
    with pytest.raises(InputError, match="GRIB message 1"):
        grib.read_t2m(_gfs_t2m_bytes(data_dir)[:-10])


@pytest.mark.parametrize(
    "where_to_flip",
    [slice(8, 16), slice(GFS_T2M_LENGTH - 4, GFS_T2M_LENGTH), slice(20, GFS_T2M_LENGTH - 100, 97)],
    ids=["length", "end-marker", "sections"],
)
def test_flipped_bytes_are_input_error(data_dir, tmp_path, where_to_flip):
    data = bytearray((data_dir / GFS).read_bytes())
    message = data[GFS_T2M_OFFSET : GFS_T2M_OFFSET + GFS_T2M_LENGTH]
    message[where_to_flip] = bytes(b ^ 0xFF for b in message[where_to_flip])
    data[GFS_T2M_OFFSET : GFS_T2M_OFFSET + GFS_T2M_LENGTH] = message
    path = tmp_path / "flipped.grib2"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as e:
        grib.read_t2m(path)
    assert e.value.where == path


def test_no_t2m_message_is_input_error(data_dir, tmp_path):
    path = tmp_path / "geopotential.grib2"
    path.write_bytes((data_dir / GFS).read_bytes()[:GFS_T2M_OFFSET])  # messages 1..190: no TMP at 2 m
    with pytest.raises(InputError, match="2 m temperature"):
        grib.read_t2m(path)


def test_not_grib_at_all_is_input_error(tmp_path):
    path = tmp_path / "notes.grib2"
    path.write_text("temperature notes, no messages\n")
    with pytest.raises(InputError, match="at least one GRIB message"):
        grib.read_t2m(path)


def test_celsius_labelled_kelvin_is_input_error(data_dir, gfs_eccodes):
    values, _, _ = gfs_eccodes
    celsius = _edit_message(_gfs_t2m_bytes(data_dir), values=(values - 273.15).ravel())
    with pytest.raises(InputError, match="kelvin within"):
        grib.read_t2m(celsius)


def test_repeated_valid_time_and_mixed_grids_are_input_errors(data_dir):
    message = _gfs_t2m_bytes(data_dir)
    with pytest.raises(InputError, match="repeated"):
        grib.read_t2m(message + message)
    era5 = (data_dir / "era5/era5_t2m_uk_2019-03-01_21.grib").read_bytes()[:3342]  # its first message
    with pytest.raises(InputError, match="one grid for every T2M message"):
        grib.read_t2m(message + era5)


# ------------------------------------------------------------------------------------- .idx and byte ranges


@pytest.fixture
def gfs_copy(data_dir, tmp_path):
    path = tmp_path / "gfs.t12z.pgrbf120.grib2"
    shutil.copy(data_dir / GFS, path)
    return path


def test_write_idx_lines_match_eccodes_offsets_and_noaa_layout(gfs_copy):
    idx = grib.write_idx(gfs_copy)
    assert idx == gfs_copy.parent / (gfs_copy.name + ".idx")
    lines = idx.read_text().splitlines()
    assert len(lines) == GFS_MESSAGES
    assert lines[GFS_T2M_NUMBER - 1] == f"{GFS_T2M_NUMBER}:{GFS_T2M_OFFSET}:d=2011011012:TMP:2 m above ground:120 hour fcst:"
    assert lines[0] == "1:0:d=2011011012:HGT:10 mb:120 hour fcst:"
    assert "APCP:surface:114-120 hour acc fcst:" in lines[198]
    with open(gfs_copy, "rb") as f:
        offsets = []
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            offsets.append(eccodes.codes_get(h, "offset"))
            eccodes.codes_release(h)
    assert [int(line.split(":")[1]) for line in lines] == offsets
    layout = re.compile(r"^\d+:\d+:d=\d{10}:[^:]+:[^:]+:[^:]+:$")
    assert layout.match(REAL_NOAA_LINE) and all(layout.match(line) for line in lines)


def test_analysis_message_idx_line_reads_like_noaas(data_dir, tmp_path):
    """The same message as an analysis (forecast time 0) gives exactly NOAA's wording for T2M."""
    path = tmp_path / "anl.grib2"
    path.write_bytes(_edit_message(_gfs_t2m_bytes(data_dir), forecastTime=0))
    line = grib.write_idx(path).read_text()
    assert line == "1:0:d=2011011012:TMP:2 m above ground:anl:\n"
    assert line.rstrip("\n").split(":")[3:] == REAL_NOAA_LINE.split(":")[3:]
    assert grib.read_idx(path.with_name("anl.grib2.idx"))[0].text == ":d=2011011012:TMP:2 m above ground:anl:"


def test_read_idx_parses_a_real_noaa_line(tmp_path):
    idx = tmp_path / "hrrr.t00z.wrfsfcf00.grib2.idx"
    idx.write_text(REAL_NOAA_LINE + "\n72:38436248:d=2023120100:POT:2 m above ground:anl:\n")
    assert grib.idx_byte_ranges(idx) == [(37248515, 38436247)]
    assert grib.idx_byte_ranges(idx, ":POT:") == [(38436248, None)]


def test_herbie_finds_t2m_in_our_idx_and_the_right_bytes(data_dir, gfs_field, tmp_path, no_network):
    """Herbie, given our .idx beside a local file where it caches GFS, selects the TMP 2 m message's bytes."""
    from herbie import Herbie

    local = tmp_path / "gfs" / "20240101" / "gfs.t12z.pgrb2.0p25.f120"  # Herbie's local layout for this run
    local.parent.mkdir(parents=True)
    shutil.copy(data_dir / GFS, local)
    grib.write_idx(local)
    herbie = Herbie("2024-01-01 12:00", model="gfs", product="pgrb2.0p25", fxx=120, save_dir=tmp_path, verbose=False)
    assert herbie.idx_source == "local"
    found = herbie.inventory(":TMP:2 m above ground:")
    assert list(found.start_byte) == [GFS_T2M_OFFSET]
    assert list(found.end_byte) == [GFS_T2M_OFFSET + GFS_T2M_LENGTH - 1]
    message = grib.read_byte_range(local, GFS_T2M_OFFSET, int(found.end_byte.iloc[0]))
    assert grib.read_t2m(message).identical(gfs_field)


def test_indexed_read_equals_full_read(gfs_copy):
    grib.write_idx(gfs_copy)
    assert grib.read_t2m_indexed(gfs_copy, form="forecast").identical(grib.read_t2m(gfs_copy, form="forecast"))


def test_stale_idx_range_is_input_error(gfs_copy):
    with pytest.raises(InputError, match="stale"):
        grib.read_byte_range(gfs_copy, GFS_T2M_OFFSET + 1, GFS_T2M_OFFSET + 100)


def test_write_idx_on_bad_file_writes_nothing(data_dir, tmp_path):
    path = tmp_path / "corrupted.grib"
    shutil.copy(data_dir / "bad/era5-levels-corrupted.grib", path)
    with pytest.raises(InputError):
        grib.write_idx(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupted.grib"]  # no idx, no temporary file


def test_write_idx_refuses_grib1(data_dir, tmp_path):
    with pytest.raises(InputError, match="GRIB2"):
        grib.write_idx(data_dir / "era5/era5_t2m_uk_2019-03-01_21.grib", tmp_path / "era5.idx")


# --------------------------------------------------------------------------------------- tm-weather index


def test_index_command_writes_idx_beside_each_file(gfs_copy, data_dir, tmp_path):
    second = tmp_path / "anl.grib2"
    second.write_bytes(_edit_message(_gfs_t2m_bytes(data_dir), forecastTime=0))
    assert cli.main(["index", str(gfs_copy), str(second)]) == EXIT_OK
    assert len((tmp_path / f"{gfs_copy.name}.idx").read_text().splitlines()) == GFS_MESSAGES
    assert (tmp_path / "anl.grib2.idx").read_text() == "1:0:d=2011011012:TMP:2 m above ground:anl:\n"


def test_index_command_bad_file_exits_2(data_dir, tmp_path, capsys):
    path = tmp_path / "corrupted.grib"
    shutil.copy(data_dir / "bad/era5-levels-corrupted.grib", path)
    assert cli.main(["index", str(path)]) == EXIT_INPUT
    assert str(path) in capsys.readouterr().err
    assert not (tmp_path / "corrupted.grib.idx").exists()
