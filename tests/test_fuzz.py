"""Property-based tests (hypothesis): hourly -> daily aggregation, FSQ round trips, the catalog loader on bad keys
and values, and GRIB bytes truncated or with flipped bits. Bad input must end in `InputError`, never another
exception or a crash of the process."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tm_weather.catalog import load_catalog
from tm_weather.errors import InputError
from tm_weather.grib import read_t2m
from tm_weather.series import DailyRule, daily
from tm_weather.tokenizers.fsq import FSQ
from tm_weather.world.gfs import GFSGrid, write_gfs_file

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------- series.daily


@st.composite
def hourly_series(draw):
    """t2m `(site, time)`: a random subset of the hours of 1..4 UTC days, values in K with some NaN."""
    days = draw(st.integers(1, 4))
    sites = draw(st.integers(1, 3))
    keep = np.array(draw(st.lists(st.booleans(), min_size=24 * days, max_size=24 * days)))
    keep[0] = True
    hours = np.datetime64("2023-02-10T00", "ns") + np.flatnonzero(keep) * np.timedelta64(1, "h")
    values = np.array(draw(st.lists(st.one_of(st.floats(230, 320), st.just(np.nan)),
                                    min_size=sites * hours.size, max_size=sites * hours.size)), np.float32)
    return xr.DataArray(values.reshape(sites, hours.size), dims=("site", "time"), coords={"time": hours}, name="t2m")


@FAST
@given(hourly_series(), st.integers(1, 24))
def test_daily_statistics_match_a_per_day_count(hourly, min_hours):
    out = daily(hourly, DailyRule(min_hours))
    t = hourly["time"].values
    first, last = t.min().astype("datetime64[D]"), t.max().astype("datetime64[D]")
    assert out.sizes["date"] == (last - first).astype(int) + 1  # every date, even one with no hours
    for i, date in enumerate(out["date"].values.astype("datetime64[D]")):
        on_day = hourly.values[:, t.astype("datetime64[D]") == date].astype(np.float64)
        finite = np.isfinite(on_day)
        np.testing.assert_array_equal(out["n_hours"].values[:, i], finite.sum(1))
        counts = finite.sum(1) >= min_hours
        for stat, f in (("mean", np.nanmean), ("min", np.nanmin), ("max", np.nanmax)):
            got = out[f"t2m_{stat}"].values[:, i]
            assert np.isnan(got[~counts]).all()
            if counts.any():
                np.testing.assert_allclose(got[counts], f(on_day[counts], axis=1).astype(np.float32), rtol=1e-6)


@FAST
@given(hourly_series(), st.data())
def test_daily_rejects_repeated_unsorted_or_off_hour_times(hourly, data):
    t = hourly["time"].values.copy()
    if t.size < 2:
        t = np.append(t, t[0])  # a repeated time
    else:
        i = data.draw(st.integers(0, t.size - 2))
        t[i], t[i + 1] = t[i + 1], t[i]  # unsorted
    with pytest.raises(InputError):
        daily(hourly.isel(time=np.arange(t.size) % hourly.sizes["time"]).assign_coords(time=t))
    shifted = hourly.assign_coords(time=hourly["time"].values + np.timedelta64(data.draw(st.integers(1, 59)), "m"))
    with pytest.raises(InputError):
        daily(shifted)


# -------------------------------------------------------------------------------------------------- FSQ

levels_st = st.lists(st.integers(2, 9), min_size=1, max_size=6)


@FAST
@given(levels_st, st.data())
def test_fsq_indices_codes_indices(levels, data):
    fsq = FSQ(levels)
    indices = torch.tensor(data.draw(st.lists(st.integers(0, fsq.codebook_size - 1), min_size=1, max_size=50)))
    codes = fsq.indices_to_codes(indices)
    assert codes.shape == (len(indices), len(levels)) and float(codes.min()) >= 0 and float(codes.max()) <= 1
    assert torch.equal(fsq.codes_to_indices(codes), indices)


@FAST
@given(levels_st, st.lists(st.floats(-30, 30), min_size=6, max_size=60))
def test_fsq_quantized_latents_round_trip(levels, values):
    fsq = FSQ(levels)
    n = len(values) // len(levels)
    z = torch.tensor(values[: n * len(levels)], dtype=torch.float32).reshape(n, len(levels))
    codes, indices = fsq(z)
    assert int(indices.min()) >= 0 and int(indices.max()) < fsq.codebook_size
    torch.testing.assert_close(fsq.indices_to_codes(indices), codes, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------------- catalog

VALID = {
    "store": "store/x.zarr", "cache_dir": "cache",
    "sources": {"gfs": {"kind": "gfs", "cycles": [0, 12], "fxx": [0, 1]}, "isd": {"kind": "isd", "paths": ["a"]}},
    "sites": [{"name": "a", "lat": 50.0, "lon": 8.0}],
    "tiles": [{"name": "t", "s2": "t.tif"}],
    "splits": {"train": {"tiles": ["t"], "start": "2023-01-01", "end": "2023-01-02"}},
}
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def _paths(doc, prefix=()):
    """Every key path into a nested dict/list document."""
    yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


@st.composite
def bad_catalogs(draw):
    """The valid catalog with one to three random edits: a value replaced by junk, or a junk key added."""
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if path and draw(st.booleans()):
            parent[path[-1]] = draw(junk)
        else:
            target = parent[path[-1]] if path else doc
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=8))] = draw(junk)
    return doc


@FAST
@given(bad_catalogs())
def test_catalog_loader_fails_only_with_input_error(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_text(yaml.safe_dump(doc))
        try:
            load_catalog(path)
        except InputError as e:
            assert str(path) in str(e)


@FAST
@given(st.binary(max_size=200))
def test_catalog_loader_on_random_bytes(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_bytes(raw)
        with pytest.raises(InputError):
            load_catalog(path)


# ------------------------------------------------------------------------------------------------ GRIB


@pytest.fixture(scope="module")
def grib_message(tmp_path_factory) -> bytes:
    """One small GFS-layout GRIB2 file (T2M and three other fields on a 0.25 deg box) as bytes."""
    grid = GFSGrid.covering(np.array([50.0, 51.0]), np.array([8.0, 9.0]))
    shape = (grid.lat.size, grid.lon.size)
    t2m = 270 + np.arange(grid.lat.size * grid.lon.size, dtype=np.float64).reshape(shape) / 100
    fields = {"prmsl": np.full(shape, 101325.0), "orography": np.zeros(shape), "t2m": t2m, "rh2m": np.full(shape, 80.0)}
    path = tmp_path_factory.mktemp("grib") / "gfs.grib2"
    write_gfs_file(path, grid, np.datetime64("2023-02-10T00", "h"), 3, fields)
    raw = path.read_bytes()
    assert read_t2m(raw).shape == (1, *shape)  # the intact file reads
    return raw


@FAST
@given(st.data())
def test_truncated_grib_is_an_input_error(grib_message, data):
    cut = data.draw(st.integers(0, len(grib_message) - 1))
    try:
        t2m = read_t2m(grib_message[:cut])
    except InputError:
        return
    assert grib_message[:cut].endswith(b"7777")  # only a cut between whole messages (T2M among them) reads
    assert t2m.name == "t2m"


@settings(FAST, max_examples=150)
@given(st.data())
def test_bit_flipped_grib_reads_or_is_an_input_error(grib_message, data):
    raw = bytearray(grib_message)
    for _ in range(data.draw(st.integers(1, 8))):
        bit = data.draw(st.integers(0, 8 * len(raw) - 1))
        raw[bit // 8] ^= 1 << (bit % 8)
    try:
        t2m = read_t2m(bytes(raw))
    except InputError:
        return
    assert t2m.name == "t2m" and t2m.dtype == np.float32  # a flip in the data section: values change, still valid


@pytest.mark.parametrize("extra", [1, 2, 3])
def test_cut_inside_the_next_header_is_an_input_error(grib_message, extra):
    """A file cut 1-3 bytes into the next message ('G', 'GR', 'GRI'): ecCodes skips those bytes as junk."""
    end = grib_message.find(b"7777") + 4
    assert grib_message[end:end + 4] == b"GRIB"
    with pytest.raises(InputError, match="truncated"):
        read_t2m(grib_message[: end + extra])
