"""NOAA ISD raw reports on the real La Crosse file (tests/data/isd/726430-14920-2015)."""

from pathlib import Path

import numpy as np
import pytest

from tm_weather.catalog import Catalog
from tm_weather.errors import InputError
from tm_weather.sources import open_source
from tm_weather.sources.isd import read_isd

ISD = Path(__file__).parent / "data" / "isd" / "726430-14920-2015"


def lines() -> list[str]:
    return ISD.read_text().splitlines()


def isd_source(tmp_path: Path, *paths: Path):
    cat = Catalog(root=tmp_path, store="s.zarr", cache_dir="cache", sources={"isd": {"kind": "isd", "paths": paths}})
    return open_source("isd", cat.sources["isd"], cat)


def write(tmp_path: Path, text_lines: list[str]) -> Path:
    path = tmp_path / "broken-isd"
    path.write_text("\n".join(text_lines) + "\n")
    return path


def test_fixture_parses_every_record(no_network):
    df = read_isd(ISD)
    # 154 lines (the last has no newline, so `wc -l` says 153), two of them at the same time (below).
    assert len(df) == 154
    first = df.iloc[0]
    assert first["station"] == "726430-14920" and first["report_type"] == "FM-15"
    assert first["time"] == np.datetime64("2015-01-01T00:53")
    assert (first["latitude"], first["longitude"], first["elevation"]) == (43.879, -91.253, 200.0)
    assert first["t2m"] == pytest.approx(-8.3 + 273.15, abs=1e-4)
    assert df["t2m"].dtype == np.float32 and df["time"].dtype == "datetime64[ns]"
    # The 6 summaries (SOD, SOM) carry no temperature (+9999): NaN, never a fill number.
    summaries = df["report_type"].isin(["SOD", "SOM"])
    assert summaries.sum() == 6 and df.loc[summaries, "t2m"].isna().all()
    assert df.loc[~summaries, "t2m"].between(250, 280).all()


def test_source_gives_153_report_times_at_exact_times(tmp_path, no_network):
    src = isd_source(tmp_path, ISD)
    times = src.times(np.datetime64("2015-01-01"), np.datetime64("2015-01-06"))
    assert len(times) == 153  # 154 reports, the SOD and SOM of 2015-01-01 share 05:59
    da = src(times)
    assert da.dims == ("time", "station") and da.shape == (153, 1)
    assert da.station.item() == "726430-14920"
    assert [da[c].item() for c in ("latitude", "longitude", "elevation")] == [43.879, -91.253, 200.0]
    assert da.isel(time=0).item() == pytest.approx(264.85, abs=1e-4)
    assert np.isnan(da.sel(time="2015-01-01T05:59").item())
    # Times are kept as reported (xx:53 METARs), not rounded; a time with no report is NaN.
    assert (da.time.dt.minute == 53).sum() == 104
    assert np.isnan(src([np.datetime64("2015-01-01T01:00")]).item())


@pytest.mark.parametrize("flag, kept", [("1", True), ("A", True), ("2", False), ("7", False)])
def test_quality_code_filter(tmp_path, flag, kept, no_network):
    text = lines()
    text[0] = text[0][:92] + flag + text[0][93:]
    df = read_isd(write(tmp_path, text))
    assert np.isfinite(df["t2m"].iloc[0]) == kept
    assert df["temperature_qc"].iloc[0] == flag


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda line: line[:90], "at least 105 characters"),
        (lambda line: "", "at least 105 characters"),
        (lambda line: line[:87] + "+0X83" + line[92:], "temperature (columns 88-92)"),
        (lambda line: line[:15] + "2015AB01" + line[23:], "date and time"),
        (lambda line: line[:28] + "+43.79" + line[34:], "latitude (columns 29-34)"),
    ],
)
def test_broken_line_names_file_and_line(tmp_path, edit, field, no_network):
    text = lines()
    text[4] = edit(text[4])
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_isd(path)
    msg = str(err.value)
    assert str(path) in msg and "line 5" in msg and field in msg, msg
