"""What a source is, as small protocols, one per way callers use one. Every source returns the t2m contract
`tm_weather.lexicon.check_t2m` checks, in one of the three forms `dims` names.

Callers dispatch on what a source declares, never on its catalog `kind`: ingest and verify on `dims` (what a
call returns), the daily job on `RunSource` (files to fetch ahead), the model's GFS input and the GFS baselines
on `OrographySource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import xarray as xr

#: The three forms of `source(times)`, by their dimensions.
ANALYSIS = ("time", "y", "x")
STATIONS = ("time", "station")
FORECAST = ("init_time", "lead_time", "y", "x")


class Source(Protocol):
    """What every source provides. Classes are built as `Cls(config, catalog)` (see `open_source`).

    `dims` says what `__call__` returns:
    - `ANALYSIS`: `source(times)` -> t2m `(time, y, x)`, the fields valid at `times`;
    - `STATIONS`: `source(times)` -> t2m `(time, station)`, reports at `times` (NaN where a station has none);
    - `FORECAST`: `source(init_times)` -> t2m `(init_time, lead_time, y, x)`, the configured lead times.
    `remote`: it fetches from servers, so ingesting it needs an explicit window.
    """

    name: str
    dims: tuple[str, ...]
    remote: bool

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """The valid times (analyses, stations) or init times (forecasts) the source offers in [start, end], as
        sorted `datetime64[ns]`: for files, what they hold; for servers, their schedule."""
        ...

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray: ...


@runtime_checkable
class RunSource(Source, Protocol):
    """A source read as one GRIB file per run and lead time, fetched into the cache `save_dir` (through Herbie):
    runs at the UTC `hours` of each day, leads `fxx` hours (`[0]` for analyses)."""

    hours: list[int]
    fxx: list[int]
    save_dir: Path

    def fetch(self, run: np.datetime64, fxx: int) -> Path:
        """The cached file holding T2M of run `run` at lead `fxx` h (fetched first if need be)."""
        ...

    def fields(self, runs: Sequence[tuple[np.datetime64, int]]) -> xr.DataArray:
        """t2m `(init_time, lead_time, y, x)` of the (run, lead h) pairs `runs` (NaN at pairs not asked for)."""
        ...


@runtime_checkable
class OrographySource(RunSource, Protocol):
    """A forecast with its model's orography, which the lapse-rate correction needs (GFS)."""

    def orography(self, init: np.datetime64) -> xr.DataArray:
        """The model orography (m) `(y, x)` of run `init`."""
        ...
