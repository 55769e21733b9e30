"""NOAA Integrated Surface Database (ISD) station reports: raw fixed-width hourly files -> t2m `(time, station)`.

Columns are those of NOAA's "Federal Climate Complex Data Documentation for Integrated Surface Data"
(ish-format-document.pdf), control and mandatory data sections, 1-based and inclusive:

==========  ==================================================  =======================================
columns     field                                               decoding
==========  ==================================================  =======================================
5-10        USAF station id                                     text
11-15       WBAN station id                                     text
16-23       date, YYYYMMDD (UTC)                                with 24-27 -> `time`
24-27       time, HHMM (UTC)
29-34       latitude, degrees x 1000                            +99999 missing
35-41       longitude, degrees x 1000                           +999999 missing
42-46       report type (FM-15 METAR, FM-16 SPECI, SOD, ...)    text
47-51       elevation, metres                                   +9999 missing
88-92       air temperature, deg C x 10, sign included          +9999 missing
93          air temperature quality code                        see `QC_REJECTED`
105         last column of the mandatory data section           must be present
==========  ==================================================  =======================================

Quality control: ISD's air-temperature quality codes 2, 3, 6 and 7 mean "suspect" or "erroneous" (the NCEI
flavours are 6 and 7); those temperatures become NaN. Every other code is kept: 0/4 and 9 (passed gross
limits checks), 1/5 (passed all QC checks), and the letter codes A, C, I, M, P, R, U (values flagged but accepted,
inserted or corrected by NCEI's validators).

Report times are kept exactly as reported (e.g. 00:53 for a METAR, 23:59 for a summary of day): this module does
not round to the hour; the series layer aggregates. A station id is `USAF-WBAN`, e.g. `726430-14920`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from tm_weather.catalog import Catalog, ISDConfig
from tm_weather.errors import InputError
from tm_weather.lexicon import T2M, T2M_ATTRS, check_t2m, to_kelvin
from tm_weather.sources.base import STATIONS
from tm_weather.files import regular_file

log = logging.getLogger(__name__)

#: Air-temperature quality codes (column 93) whose temperatures are dropped: suspect or erroneous.
QC_REJECTED = frozenset("2367")

#: Length of the control (60) plus mandatory (45) data sections: every record has at least this many characters.
MANDATORY_LENGTH = 105

#: name -> (first, last) column, 1-based inclusive as in the ISD format document.
_COLUMNS = {
    "usaf": (5, 10),
    "wban": (11, 15),
    "date": (16, 23),
    "hhmm": (24, 27),
    "latitude": (29, 34),
    "longitude": (35, 41),
    "report_type": (42, 46),
    "elevation": (47, 51),
    "temperature": (88, 92),
    "temperature_qc": (93, 93),
    "end_of_mandatory": (MANDATORY_LENGTH, MANDATORY_LENGTH),
}

#: numeric field -> (value meaning missing, scale dividing the integer).
_NUMERIC = {
    "latitude": (99999, 1000.0),
    "longitude": (999999, 1000.0),
    "elevation": (9999, 1.0),
    "temperature": (9999, 10.0),
}


def read_isd(path: str | Path) -> pd.DataFrame:
    """Parse one raw ISD file into one row per report (no report dropped).

    Returns a DataFrame with columns `station` (str, `USAF-WBAN`), `time` (datetime64[ns], UTC), `latitude`,
    `longitude` (degrees north / east), `elevation` (m), `report_type` (str), `temperature_qc` (str) and `t2m`
    (float32 K; NaN where missing or rejected by QC, see `QC_REJECTED`). A short or non-numeric record raises
    `InputError` naming the file and its line number.
    """
    path = regular_file(path, "an ISD fixed-width text file")
    try:
        raw = pd.read_fwf(
            path,
            colspecs=[(first - 1, last) for first, last in _COLUMNS.values()],
            names=list(_COLUMNS),
            header=None,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
        )
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, "file", "a readable ISD fixed-width text file", str(e)) from e
    if raw.empty:
        raise InputError(path, "records", "at least one ISD report", "an empty file")

    short = raw["end_of_mandatory"] == ""
    if short.any():
        raise InputError(
            path, f"line {_first_line(short)}", f"a record of at least {MANDATORY_LENGTH} characters", "a shorter line"
        )

    out = pd.DataFrame({"station": raw["usaf"] + "-" + raw["wban"], "report_type": raw["report_type"]})
    out["time"] = pd.to_datetime(raw["date"] + raw["hhmm"], format="%Y%m%d%H%M", errors="coerce").astype(
        "datetime64[ns]"
    )
    _check_parsed(path, out["time"].isna(), raw["date"] + raw["hhmm"], "date and time (columns 16-27)", "YYYYMMDDHHMM")
    for name, (missing, scale) in _NUMERIC.items():
        is_integer = raw[name].str.fullmatch(r"[+-]?[0-9]+")
        first, last = _COLUMNS[name]
        _check_parsed(path, ~is_integer, raw[name], f"{name} (columns {first}-{last})", "a signed integer")
        values = pd.to_numeric(raw[name])
        out[name] = values.where(values != missing) / scale

    out["temperature_qc"] = raw["temperature_qc"]
    rejected = out["temperature_qc"].isin(QC_REJECTED) & out["temperature"].notna()
    if rejected.any():
        log.info("%s: %d air temperatures dropped by their quality code", path, int(rejected.sum()))
    celsius = out.pop("temperature").where(~rejected)
    out[T2M] = to_kelvin(celsius.to_numpy(), "degC", path)
    return out


def _first_line(bad: pd.Series) -> int:
    """1-based line number of the first True in `bad` (rows are lines: blank lines are kept)."""
    return int(np.flatnonzero(bad.to_numpy())[0]) + 1


def _check_parsed(path: Path, bad: pd.Series, text: pd.Series, field: str, expected: str) -> None:
    """Raise `InputError` at the first line where `text` failed to parse (`bad`)."""
    if bad.any():
        line = _first_line(bad)
        raise InputError(path, f"line {line}: {field}", expected, repr(text.iloc[line - 1]))


class ISDReports:
    """T2M station reports from the raw ISD files in the catalog (`kind: isd`), one station per file or more.

    Files are parsed once, on first use. Where a station has several reports at the same time (e.g. a summary
    of day next to a special report), the first with a valid temperature is used.
    """

    dims, remote = STATIONS, False

    def __init__(self, config: ISDConfig, catalog: Catalog):
        self.name = "isd"
        self.paths = [catalog.path(p) for p in config.paths]

    @functools.cached_property
    def reports(self) -> pd.DataFrame:
        """All reports of all files, in the layout of `read_isd`."""
        return pd.concat([read_isd(p) for p in self.paths], ignore_index=True)

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """Sorted, unique report times in [start, end] (reports without a valid temperature included)."""
        t = np.unique(self.reports["time"].to_numpy())
        return t[(t >= np.datetime64(start, "ns")) & (t <= np.datetime64(end, "ns"))]

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        """t2m `(time, station)` in K at exactly `times` (NaN where a station has no report), with `latitude`,
        `longitude` (degrees) and `elevation` (m) coordinates on `station` (each station's latest report)."""
        df = self.reports.sort_values("time", kind="stable")
        t2m = df.groupby(["time", "station"])[T2M].first().unstack("station")
        t2m = t2m.reindex(pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]"), name="time"))
        where = df.groupby("station")[["latitude", "longitude", "elevation"]].last().loc[t2m.columns]
        da = xr.DataArray(
            t2m.to_numpy(dtype=np.float32),
            dims=("time", "station"),
            coords={"time": t2m.index.to_numpy(), "station": t2m.columns.to_numpy(dtype=str)}
            | {c: ("station", where[c].to_numpy()) for c in where.columns},
            name=T2M,
            attrs=T2M_ATTRS | {"source": "NOAA ISD", "qc_rejected": "".join(sorted(QC_REJECTED))},
        )
        return check_t2m(da, ", ".join(map(str, self.paths)))
