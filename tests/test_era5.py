"""ERA5 sources on the real ERA5 GRIB fixture (UK, 2019-03-01..21, hourly, 0.25 deg): files, ARCO zarr, CDS."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip
from tm_weather.catalog import Catalog
from tm_weather.errors import InputError
from tm_weather.sources import open_source
from tm_weather.sources.era5 import ERA5CDS, read_era5_file

DATA = Path(__file__).parent / "data"
ERA5 = DATA / "era5" / "era5_t2m_uk_2019-03-01_21.grib"
UK_AREA = (58.0, -10.0, 50.0, 2.0)  # north, west, south, east: the fixture's grid


def catalog(tmp_path: Path, **source) -> Catalog:
    return Catalog(root=tmp_path, store="s.zarr", cache_dir="cache", sources={"era5": source})


def eccodes_fields(path: Path) -> list[dict]:
    """Per message, straight from ecCodes: values (Nj, Ni) with bitmap-missing points NaN, and the longitudes."""
    out = []
    with open(path, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            shape = (eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni"))
            values = eccodes.codes_get_values(h).reshape(shape)
            if eccodes.codes_get(h, "bitmapPresent"):
                values[eccodes.codes_get_array(h, "bitmap").reshape(shape) == 0] = np.nan
            lon = eccodes.codes_get_array(h, "longitudes").reshape(shape)[0]
            out.append({"values": values, "lon": lon, "missing": eccodes.codes_get(h, "numberOfMissing")})
            eccodes.codes_release(h)
    return out


@pytest.fixture(scope="module")
def era5() -> xr.DataArray:
    """The ERA5 fixture through the files source (read once for the module)."""
    return read_era5_file(ERA5)


def as_netcdf(da: xr.DataArray, path: Path, name="t2m", time="valid_time", celsius=True) -> Path:
    """Write contract t2m the way the CDS does (lat/lon names, `number` size-1 dim, optional deg C)."""
    values = da - 273.15 if celsius else da
    out = values.rename(y="latitude", x="longitude", time=time).drop_vars("spatial_ref").expand_dims(number=[0], axis=1)
    out.attrs = {"units": "degC" if celsius else "K", "long_name": "2 metre temperature"}
    out.rename(name).to_dataset().to_netcdf(path)
    return path


def test_era5_grib_fixture_matches_eccodes(tmp_path, era5, no_network):
    cat = catalog(tmp_path, kind="era5_file", paths=[ERA5])
    src = open_source("era5", cat.sources["era5"], cat)
    times = src.times(np.datetime64("2019-03-01"), np.datetime64("2019-03-31"))
    assert len(times) == 504 and np.all(np.diff(times) == np.timedelta64(1, "h"))
    assert times[0] == np.datetime64("2019-03-01T00") and times[-1] == np.datetime64("2019-03-21T23")
    da = src(times)
    assert da.dims == ("time", "y", "x") and da.shape == (504, 33, 49) and da.dtype == np.float32
    assert da.rio.crs.to_epsg() == 4326 and da.attrs["units"] == "K"
    assert (da.y[0], da.y[-1], da.x[0], da.x[-1]) == (58.0, 50.0, -10.0, 2.0)
    reference = eccodes_fields(ERA5)
    np.testing.assert_array_equal(da.x.values, reference[0]["lon"])
    np.testing.assert_allclose(da.values, np.stack([r["values"] for r in reference]), rtol=0, atol=1e-4)


def test_corrupt_grib_names_the_file(tmp_path, no_network):
    bad = DATA / "bad" / "era5-levels-corrupted.grib"
    cat = catalog(tmp_path, kind="era5_file", paths=[bad])
    src = open_source("era5", cat.sources["era5"], cat)
    with pytest.raises(InputError) as err:
        src.times(np.datetime64("2000-01-01"), np.datetime64("2030-01-01"))
    assert str(bad) in str(err.value) and "GRIB message" in str(err.value)


def test_bitmap_missing_values_are_nan(no_network):
    path = DATA / "bad" / "fields_with_missing_values.grib"
    da = read_era5_file(path)
    reference = eccodes_fields(path)
    assert da.shape == (2, 91, 180) and da.x.values[0] == -180.0  # 0..358 E wrapped to -180..178
    for field, ref in zip(da.values, reference):
        expected = ref["values"][:, np.argsort((ref["lon"] + 180) % 360 - 180)]
        assert np.isnan(field).sum() == ref["missing"] > 0
        np.testing.assert_array_equal(np.isnan(field), np.isnan(expected))
        np.testing.assert_allclose(field, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "name, time, celsius", [("t2m", "valid_time", True), ("2t", "time", False), ("2m_temperature", "time", True)]
)
def test_netcdf_equals_grib(tmp_path, era5, name, time, celsius, no_network):
    day = era5.isel(time=slice(0, 24))
    da = read_era5_file(as_netcdf(day, tmp_path / "era5.nc", name, time, celsius))
    assert da.dims == ("time", "y", "x") and da.dtype == np.float32 and da.rio.crs.to_epsg() == 4326
    np.testing.assert_array_equal(da.time.values, day.time.values)
    xr.testing.assert_allclose(da.drop_vars("spatial_ref"), day.drop_vars("spatial_ref"), rtol=0, atol=1e-4)


def test_files_merge_repeated_times_and_report_gaps(tmp_path, era5, caplog, no_network):
    first = as_netcdf(era5.isel(time=slice(0, 30)), tmp_path / "a.nc")  # hours 0..29
    second = as_netcdf(era5.isel(time=[*range(24, 36), *range(40, 48)]), tmp_path / "b.nc")  # 24..35, 40..47
    cat = catalog(tmp_path, kind="era5_file", paths=[second, first])
    src = open_source("era5", cat.sources["era5"], cat)
    with caplog.at_level(logging.INFO, logger="tm_weather.sources.era5"):
        times = src.times(np.datetime64("2019-03-01"), np.datetime64("2019-03-03"))
    expected = era5.time.values[[*range(36), *range(40, 48)]]
    np.testing.assert_array_equal(times, expected)
    assert "6 repeated times" in caplog.text
    gaps = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(gaps) == 1 and "2019-03-02T11:00" in gaps[0] and "2019-03-02T16:00" in gaps[0]
    np.testing.assert_allclose(src(times[-3:]).values, era5.sel(time=times[-3:]).values, atol=1e-4)
    with pytest.raises(InputError, match="times the source holds"):
        src([np.datetime64("2019-03-02T12")])


def test_files_with_conflicting_repeated_times(tmp_path, era5, no_network):
    first = as_netcdf(era5.isel(time=slice(0, 3)), tmp_path / "a.nc")
    second = as_netcdf(era5.isel(time=slice(2, 4)) + 0.5, tmp_path / "b.nc")
    cat = catalog(tmp_path, kind="era5_file", paths=[first, second])
    with pytest.raises(InputError) as err:
        open_source("era5", cat.sources["era5"], cat).times(np.datetime64("2019-03-01"), np.datetime64("2019-03-02"))
    msg = str(err.value)
    assert str(first) in msg and str(second) in msg and "2019-03-01T02" in msg and "0.500 K" in msg


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda ds: ds.rename(t2m="temperature"), "variable"),
        (lambda ds: ds.assign(t2m=ds.t2m.assign_attrs(units="furlongs")), "t2m units"),
        (lambda ds: ds.rename(latitude="row"), "dimensions"),
    ],
)
def test_bad_netcdf_names_file_and_field(tmp_path, era5, edit, field, no_network):
    good = as_netcdf(era5.isel(time=slice(0, 2)), tmp_path / "good.nc")
    with xr.open_dataset(good) as ds:
        bad = tmp_path / "bad.nc"
        edit(ds.load()).to_netcdf(bad)
    with pytest.raises(InputError) as err:
        read_era5_file(bad)
    assert str(bad) in str(err.value) and field in str(err.value)


def test_not_grib_nor_netcdf(tmp_path, no_network):
    path = tmp_path / "era5.grib"
    path.write_text("<html>Service unavailable</html>")
    with pytest.raises(InputError, match="file format"):
        read_era5_file(path)


# ARCO-ERA5 -------------------------------------------------------------------------------------------------


@pytest.fixture
def arco_store(tmp_path, era5) -> Path:
    """A zarr store in ARCO-ERA5's layout (zarr v2, consolidated, `2m_temperature (time, latitude, longitude)`,
    latitude 90..-90, longitude 0..359.75, one time per chunk, hours since 1900) holding 3 hours: a smooth
    global field with the real ERA5 fixture written into the UK."""
    lat = np.linspace(90, -90, 721)
    lon = np.arange(1440) * 0.25
    field = (273.15 + 30 * np.cos(np.deg2rad(lat))[:, None] + np.sin(np.deg2rad(lon))[None, :]).astype(np.float32)
    values = np.repeat(field[None], 3, axis=0)
    uk = era5.isel(time=slice(0, 3))
    rows = np.searchsorted(-lat, -uk.y.values)
    cols = np.searchsorted(lon, uk.x.values % 360)
    values[:, rows[:, None], cols[None, :]] = uk.values
    da = xr.DataArray(
        values,
        dims=("time", "latitude", "longitude"),
        coords={"time": uk.time.values, "latitude": lat, "longitude": lon},
        attrs={"long_name": "2 metre temperature", "short_name": "t2m", "units": "K"},
    )
    path = tmp_path / "full_37-1h-0p25deg-chunk-1.zarr-v3"
    encoding = {
        "2m_temperature": {"chunks": (1, 721, 1440)},
        "time": {"units": "hours since 1900-01-01", "calendar": "proleptic_gregorian", "dtype": "int64"},
    }
    da.to_dataset(name="2m_temperature").to_zarr(path, zarr_format=2, consolidated=True, encoding=encoding)
    return path


def arco(tmp_path: Path, url: Path, area):
    cat = catalog(tmp_path, kind="era5_arco", url=str(url), area=area)
    return open_source("era5", cat.sources["era5"], cat)


def test_arco_subset_equals_the_era5_file(tmp_path, arco_store, era5, no_network):
    src = arco(tmp_path, arco_store, UK_AREA)
    times = src.times(np.datetime64("2019-03-01"), np.datetime64("2019-03-01T01"))
    np.testing.assert_array_equal(times, era5.time.values[:2])
    assert src.data.sizes == {"time": 3, "latitude": 33, "longitude": 49}
    # Only the chunks of the requested times are read: the third hour's chunk is garbage and never touched.
    (arco_store / "2m_temperature" / "2.0.0").write_bytes(b"not a chunk")
    da = src(times)
    xr.testing.assert_equal(da.drop_vars("spatial_ref"), era5.isel(time=slice(0, 2)).drop_vars("spatial_ref"))
    assert da.rio.crs.to_epsg() == 4326


def test_arco_area_across_the_antimeridian_keeps_one_axis(tmp_path, arco_store, no_network):
    da = arco(tmp_path, arco_store, (10.0, 170.0, 0.0, -170.0))([np.datetime64("2019-03-01T02")])
    assert da.shape == (1, 41, 81)
    np.testing.assert_array_equal(da.x.values, 170 + 0.25 * np.arange(81))  # 170..190 E, evenly spaced
    expected = 273.15 + 30 * np.cos(np.deg2rad(da.y.values))[:, None] + np.sin(np.deg2rad(da.x.values))[None, :]
    np.testing.assert_allclose(da.values[0], expected, atol=1e-4)


def test_arco_bad_store(tmp_path, no_network):
    with pytest.raises(InputError) as err:
        arco(tmp_path, tmp_path / "nothing.zarr", UK_AREA).data
    assert "nothing.zarr" in str(err.value)


# CDS -------------------------------------------------------------------------------------------------------


class FakeCDS:
    """cdsapi.Client at the transport boundary: checks the request and 'downloads' the real ERA5 fixture."""

    def __init__(self):
        self.calls = []

    def retrieve(self, name, request, target):
        assert name == "reanalysis-era5-single-levels"
        assert request["product_type"] == ["reanalysis"] and request["variable"] == ["2m_temperature"]
        assert request["year"] == ["2019"] and request["month"] == ["03"]
        assert request["day"] == [f"{d:02d}" for d in range(1, 32)]
        assert request["time"] == [f"{h:02d}:00" for h in range(24)]
        assert request["area"] == list(UK_AREA) and request["data_format"] == "grib"
        self.calls.append(target)
        shutil.copy(ERA5, target)


def test_cds_downloads_once_into_the_cache(tmp_path, era5, no_network):
    cat = catalog(tmp_path, kind="era5_cds", area=UK_AREA)
    client = FakeCDS()
    times = np.array(["2019-03-01T06", "2019-03-21T23"], dtype="datetime64[ns]")
    da = ERA5CDS(cat.sources["era5"], cat, client=client)(times)
    assert len(client.calls) == 1 and Path(client.calls[0]).parent == tmp_path / "cache" / "era5_cds"
    cached = list((tmp_path / "cache" / "era5_cds").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("era5-t2m-2019-03-") and cached[0].suffix == ".grib"
    xr.testing.assert_equal(da.drop_vars("spatial_ref"), era5.sel(time=times).drop_vars("spatial_ref"))
    # A new source on the same cache answers from the file: no second request.
    again = ERA5CDS(cat.sources["era5"], cat, client=client)(times[:1])
    assert len(client.calls) == 1 and float(again[0, 0, 0]) == float(da[0, 0, 0])


def test_cds_times_are_the_hourly_schedule(tmp_path, no_network):
    cat = catalog(tmp_path, kind="era5_cds", area=UK_AREA)
    src = ERA5CDS(cat.sources["era5"], cat, client=FakeCDS())
    times = src.times(np.datetime64("2019-03-01T00:30"), np.datetime64("2019-03-02"))
    assert len(times) == 24 and (times[0], times[-1]) == (np.datetime64("2019-03-01T01"), np.datetime64("2019-03-02"))
    assert src.client.calls == []  # the schedule needs no request
