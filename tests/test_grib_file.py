"""The `grib_file` source on the real ERA5 (GRIB1) and GFS (GRIB2) fixtures: times, selection, forecast stacking
across files, and the `.idx` byte-range path."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from grib_samples import recoded
from tm_weather import grib
from tm_weather.catalog import load_catalog
from tm_weather.errors import InputError
from tm_weather.sources import open_source
from tm_weather.sources.base import ANALYSIS, FORECAST

ERA5 = "era5/era5_t2m_uk_2019-03-01_21.grib"
GFS = "gfs/gfs.t12z.pgrbf120.2p5deg.grib2"
GFS_T2M_OFFSET, GFS_T2M_LENGTH = 2457396, 13101  # the TMP 2 m message of the GFS fixture (ecCodes offset, length)


def _source(tmp_path, paths, role):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "store: store.zarr\ncache_dir: cache\n"
        f"sources:\n  local:\n    kind: grib_file\n    role: {role}\n    paths: {[str(p) for p in paths]}\n"
    )
    cat = load_catalog(catalog)
    return open_source("local", cat.sources["local"], cat)


def _gfs_t2m_at_lead(data_dir, hours: int) -> bytes:
    """The fixture's TMP 2 m message recoded as lead `hours` (same run, same values), with ecCodes."""
    message = (data_dir / GFS).read_bytes()[GFS_T2M_OFFSET : GFS_T2M_OFFSET + GFS_T2M_LENGTH]
    return recoded(message, forecastTime=hours)


def test_analysis_role_times_and_selection(data_dir, tmp_path):
    source = _source(tmp_path, [data_dir / ERA5], "analysis")
    assert source.dims == ANALYSIS and source.name == "local"
    times = source.times(np.datetime64("2019-03-02T22:00"), np.datetime64("2019-03-03T01:00"))
    np.testing.assert_array_equal(times, np.arange("2019-03-02T22", "2019-03-03T02", dtype="datetime64[h]").astype("datetime64[ns]"))
    da = source(times[[3, 0]])
    assert da.dims == ("time", "y", "x")
    np.testing.assert_array_equal(da.time.values, times[[0, 3]])
    full = grib.read_t2m(data_dir / ERA5)
    np.testing.assert_array_equal(da.values, full.sel(time=times[[0, 3]]).values)


def test_time_not_held_is_input_error(data_dir, tmp_path):
    source = _source(tmp_path, [data_dir / ERA5], "analysis")
    with pytest.raises(InputError, match="2019-04-01"):
        source([np.datetime64("2019-04-01T00:00")])


def test_forecast_role_stacks_lead_files(data_dir, tmp_path):
    paths = []
    for lead in (0, 6, 12):
        path = tmp_path / f"gfs.t12z.f{lead:03d}.grib2"
        path.write_bytes(_gfs_t2m_at_lead(data_dir, lead))
        paths.append(path)
    source = _source(tmp_path, paths, "forecast")
    init = np.datetime64("2011-01-10T12:00", "ns")
    np.testing.assert_array_equal(source.times(init, init), [init])
    da = source([init])
    assert da.dims == source.dims == FORECAST and da.shape == (1, 3, 73, 144)
    np.testing.assert_array_equal(da.lead_time.values, np.array([0, 6, 12], dtype="timedelta64[h]"))
    np.testing.assert_array_equal(da.valid_time.values[0], init + np.array([0, 6, 12], dtype="timedelta64[h]"))
    reference = grib.read_t2m(data_dir / GFS)
    np.testing.assert_array_equal(da.values[0, 2], reference.values[0])


def test_idx_beside_the_file_is_used_instead_of_a_scan(data_dir, tmp_path):
    """With the .idx written, damage a message other than T2M: a scan now fails, the byte-range path does not."""
    path = tmp_path / "gfs.t12z.pgrbf120.grib2"
    shutil.copy(data_dir / GFS, path)
    grib.write_idx(path)
    damaged = bytearray(path.read_bytes())
    damaged[8:16] = b"\xff" * 8  # message 1's total length
    path.write_bytes(bytes(damaged))
    with pytest.raises(InputError):
        grib.read_t2m(path)
    source = _source(tmp_path, [path], "forecast")
    da = source([np.datetime64("2011-01-10T12:00")])
    assert da.shape == (1, 1, 73, 144) and da.lead_time.values[0] == np.timedelta64(120, "h")
    np.testing.assert_array_equal(da.values[0, 0], grib.read_t2m(data_dir / GFS).values[0])


def test_bad_file_in_catalog_is_input_error(data_dir, tmp_path):
    path = tmp_path / "corrupted.grib"
    shutil.copy(data_dir / "bad/era5-levels-corrupted.grib", path)
    source = _source(tmp_path, [path], "analysis")
    with pytest.raises(InputError) as e:
        source.times(np.datetime64("2000-01-01"), np.datetime64("2030-01-01"))
    assert e.value.where == path
