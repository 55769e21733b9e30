"""GFS through Herbie, offline: the real GFS fixture (run 2011-01-10 12Z, +120 h) placed where Herbie looks for it,
with the inventory `tm_weather.grib.write_idx` writes, fetched through `GFSForecast` with the network disabled."""

from __future__ import annotations

import shutil
from pathlib import Path

import io

import numpy as np
import pandas as pd
import pytest
import requests
import urllib3

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip

from tm_weather.catalog import Catalog
from tm_weather.errors import InputError
from tm_weather.grib import write_idx
from tm_weather.lexicon import check_t2m
from tm_weather.sources import open_source
from tm_weather.sources.base import ANALYSIS, FORECAST, OrographySource
from tm_weather.sources.herbie_fetch import cycle_times

FIXTURE = Path(__file__).parent / "data" / "gfs" / "gfs.t12z.pgrbf120.2p5deg.grib2"
RUN = np.datetime64("2011-01-10T12:00", "ns")
#: Herbie's GFS template serves runs before 2021 as NCEI products ("1.0-degree" is NCEI grid 3), named
#: gfs_<grid>_<YYYYMMDD>_<HHMM>_<fxx>.grb2, under <save_dir>/gfs/<YYYYMMDD>/.
HERBIE_PATH = Path("gfs", "20110110", "gfs_3_20110110_1200_120.grb2")


def open_gfs(tmp_path: Path, kind: str = "gfs", **config):
    catalog = Catalog(root=tmp_path, store=Path("store.zarr"), cache_dir=Path("cache"), sources={"g": {"kind": kind, **config}})
    return open_source("g", catalog.sources["g"], catalog)


def cache_fixture(tmp_path: Path, where: Path = HERBIE_PATH) -> Path:
    """The fixture in the cache where Herbie looks for it, with the project's .idx beside it."""
    path = tmp_path / "cache" / where
    path.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE, path)
    write_idx(path)
    return path


def fixture_t2m() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values (73, 144) K, latitudes, longitudes in 0..360) of the fixture's TMP 2 m message, read with ecCodes."""
    with open(FIXTURE, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            try:
                if eccodes.codes_get(h, "shortName") == "2t":
                    shape = (eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni"))
                    return tuple(eccodes.codes_get_array(h, k).reshape(shape) for k in ("values", "latitudes", "longitudes"))
            finally:
                eccodes.codes_release(h)
    raise AssertionError("no 2t message in the fixture")


def test_forecast_from_cached_file_and_project_idx_without_network(tmp_path, no_network):
    full = cache_fixture(tmp_path)
    gfs = open_gfs(tmp_path, product="1.0-degree", cycles=[12], fxx=[120])  # default priority: remote sources listed

    assert gfs.dims == FORECAST and isinstance(gfs, OrographySource)
    np.testing.assert_array_equal(gfs.times(np.datetime64("2011-01-10"), np.datetime64("2011-01-11")), [RUN])
    da = check_t2m(gfs([RUN]), "gfs")

    assert da.dims == ("init_time", "lead_time", "y", "x") and da.shape == (1, 1, 73, 144)
    assert da.valid_time.values[0, 0] == np.datetime64("2011-01-15T12:00", "ns")
    assert da.lead_time.values[0] == np.timedelta64(120, "h")
    assert da.rio.crs.to_epsg() == 4326
    values, lat, lon = fixture_t2m()
    # The reader puts longitudes in -180..180: reorder the fixture's 0..360 columns the same way.
    order = np.argsort((lon[0] + 180) % 360 - 180)
    np.testing.assert_array_equal(da.y.values, lat[:, 0])
    np.testing.assert_array_equal(da.x.values, (lon[0, order] + 180) % 360 - 180)
    np.testing.assert_array_equal(da.values[0, 0], values[:, order].astype(np.float32))
    # Herbie cut the T2M message out of the cached file into its subset file beside it.
    subsets = list(full.parent.glob(f"subset_*__{full.name}"))
    assert len(subsets) == 1 and subsets[0].stat().st_size < full.stat().st_size / 100

    # The subset and the .idx alone serve a second fetch: the full file is no longer needed.
    full.unlink()
    np.testing.assert_array_equal(gfs([RUN]).values, da.values)


def write_t2m_as(path: Path, run: np.datetime64, fxx: int) -> None:
    """The fixture's TMP 2 m message relabelled as run `run` +`fxx` h, then the message after it, in a GRIB2 file
    with its .idx (two messages: Herbie drops the end-byte column of a one-line inventory and then fails to cut)."""
    with open(FIXTURE, "rb") as f:
        while eccodes.codes_get((h := eccodes.codes_grib_new_from_file(f)), "shortName") != "2t":
            eccodes.codes_release(h)
        following = eccodes.codes_grib_new_from_file(f)
    try:
        eccodes.codes_set(h, "dataDate", int(f"{pd.Timestamp(run):%Y%m%d}"))
        eccodes.codes_set(h, "dataTime", int(f"{pd.Timestamp(run):%H%M}"))
        eccodes.codes_set(h, "forecastTime", fxx)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(eccodes.codes_get_message(h) + eccodes.codes_get_message(following))
    finally:
        eccodes.codes_release(h)
        eccodes.codes_release(following)
    write_idx(path)


def test_forecast_cube_over_runs_and_leads(tmp_path, no_network):
    runs = np.array(["2011-01-10T00:00", "2011-01-10T12:00"], dtype="datetime64[ns]")
    for run in runs:
        for fxx in (114, 120):
            write_t2m_as(tmp_path / "cache" / "gfs" / "20110110" / f"gfs_3_20110110_{pd.Timestamp(run):%H%M}_{fxx:03d}.grb2", run, fxx)
    gfs = open_gfs(tmp_path, product="1.0-degree", cycles=[0, 12], fxx=[120, 114])

    da = check_t2m(gfs(gfs.times(runs[0], runs[1])), "gfs")

    assert da.shape == (2, 2, 73, 144)
    np.testing.assert_array_equal(da.init_time.values, runs)
    np.testing.assert_array_equal(da.lead_time.values, np.array([114, 120], dtype="timedelta64[h]"))
    np.testing.assert_array_equal(da.valid_time.values, runs[:, None] + np.array([114, 120], dtype="timedelta64[h]"))
    values, _, lon = fixture_t2m()
    order = np.argsort((lon[0] + 180) % 360 - 180)
    for field in da.stack(field=("init_time", "lead_time")).transpose("field", "y", "x").values:
        np.testing.assert_array_equal(field, values[:, order].astype(np.float32))


AWS_GFS = "https://noaa-gfs-bdp-pds.s3.amazonaws.com/gfs.20240110/12/atmos/gfs.t12z.pgrb2.0p25.f006"
RUN_2024 = np.datetime64("2024-01-10T12:00", "ns")


class FakeServer:
    """Serves `files` (URL -> bytes) in place of requests' transport (`HTTPAdapter.send`): HEAD, GET and
    single byte-range GET (206), as S3 does; `honour_range=False` answers ranges with the whole file (200)."""

    def __init__(self, files: dict[str, bytes], honour_range: bool = True):
        self.files, self.honour_range, self.calls = files, honour_range, []

    def send(self, adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest) -> requests.Response:
        self.calls.append((request.method, request.url, request.headers.get("Range")))
        data, status = self.files.get(request.url), 200
        if data is None:
            data, status = b"", 404
        elif request.headers.get("Range") and self.honour_range:
            start, _, end = request.headers["Range"].removeprefix("bytes=").partition("-")
            data, status = data[int(start) : int(end) + 1 if end else None], 206
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(b"" if request.method == "HEAD" else data),
            headers={"Content-Length": str(len(data))},
            status=status,
            request_method=request.method,
            preload_content=False,
        )
        return adapter.build_response(request, raw)


def serve_gfs_2024(tmp_path: Path, monkeypatch, **server) -> tuple[FakeServer, bytes]:
    """A run 2024-01-10 12Z +6 h file (the fixture's T2M relabelled) and its .idx on the fake AWS bucket."""
    remote = tmp_path / "remote" / "gfs.t12z.pgrb2.0p25.f006"
    write_t2m_as(remote, RUN_2024, 6)
    fake = FakeServer({AWS_GFS: remote.read_bytes(), AWS_GFS + ".idx": (remote.parent / f"{remote.name}.idx").read_bytes()}, **server)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", lambda adapter, request, **kw: fake.send(adapter, request))
    return fake, remote.read_bytes()


def test_remote_fetch_downloads_only_the_t2m_bytes_then_serves_from_cache(tmp_path, no_network, monkeypatch):
    fake, data = serve_gfs_2024(tmp_path, monkeypatch)
    gfs = open_gfs(tmp_path, fxx=[6], cycles=[12], priority=["aws"])

    da = check_t2m(gfs([RUN_2024]), "gfs")

    assert da.valid_time.values[0, 0] == np.datetime64("2024-01-10T18:00", "ns")
    ranges = [r for method, _, r in fake.calls if method == "GET" and r]
    t2m_bytes = len(data) - len(data[data.index(b"GRIB", 4) :])  # the first of the file's two messages
    assert ranges == [f"bytes=0-{t2m_bytes - 1}"]
    cache = tmp_path / "cache" / "gfs" / "20240110"
    assert (cache / "gfs.t12z.pgrb2.0p25.f006.idx").read_bytes() == fake.files[AWS_GFS + ".idx"]
    assert [p.stat().st_size for p in cache.glob("subset_*__gfs.t12z.pgrb2.0p25.f006")] == [t2m_bytes]

    fake.calls.clear()
    np.testing.assert_array_equal(gfs([RUN_2024]).values, da.values)
    assert fake.calls == []  # the second fetch comes from the cache


def test_failed_remote_subset_leaves_nothing_in_the_cache(tmp_path, no_network, monkeypatch):
    serve_gfs_2024(tmp_path, monkeypatch, honour_range=False)  # e.g. a proxy that strips the Range header
    gfs = open_gfs(tmp_path, fxx=[6], cycles=[12], priority=["aws"])
    with pytest.raises(InputError, match="Range request not honored"):
        gfs([RUN_2024])
    assert list((tmp_path / "cache" / "gfs" / "20240110").glob("subset_*")) == []


def test_cache_only_miss_names_the_missing_file_without_network(tmp_path, no_network):
    gfs = open_gfs(tmp_path, product="1.0-degree", priority=[], fxx=[120])
    with pytest.raises(InputError) as e:
        gfs([RUN])
    assert str(tmp_path / "cache" / HERBIE_PATH) in str(e.value) and "cache only" in str(e.value)


def test_cache_miss_with_network_down_is_an_input_error_not_a_hang(tmp_path, no_network):
    gfs = open_gfs(tmp_path, fxx=[6], priority=["aws"])  # a 2024 run: pgrb2.0p25 on AWS
    with pytest.raises(InputError) as e:
        gfs([np.datetime64("2024-01-10T12:00", "ns")])
    message = str(e.value)
    assert str(tmp_path / "cache" / "gfs" / "20240110" / "gfs.t12z.pgrb2.0p25.f006") in message
    assert "['aws']" in message and "network access attempted" in message


def test_product_unknown_for_the_run_date_is_an_input_error(tmp_path, no_network):
    gfs = open_gfs(tmp_path, fxx=[120])  # default pgrb2.0p25: Herbie knows it only from 2021
    with pytest.raises(InputError, match="pgrb2.0p25"):
        gfs([RUN])


def test_analysis_refuses_a_forecast_file_placed_as_lead_0(tmp_path, no_network):
    # The +120 h forecast put where Herbie looks for the analysis (f000) of the run at its valid time.
    path = cache_fixture(tmp_path, Path("gfs", "20110115", "gfs_3_20110115_1200_000.grb2"))
    gfs = open_gfs(tmp_path, kind="gfs_analysis", product="1.0-degree")
    assert gfs.dims == ANALYSIS and not isinstance(gfs, OrographySource)
    with pytest.raises(InputError) as e:
        gfs([np.datetime64("2011-01-15T12:00", "ns")])
    assert path.name in str(e.value) and "run 2011-01-10 12:00:00 +120 h" in str(e.value)


def test_cycle_schedule_in_window():
    times = cycle_times(np.datetime64("2024-01-01T05:00"), np.datetime64("2024-01-02T06:00"), [18, 0, 6, 12])
    expected = ["2024-01-01T06", "2024-01-01T12", "2024-01-01T18", "2024-01-02T00", "2024-01-02T06"]
    np.testing.assert_array_equal(times, np.array(expected, dtype="datetime64[ns]"))
    assert times.dtype == np.dtype("datetime64[ns]")
