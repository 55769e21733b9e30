"""The protocol every source implements; what it returns is the t2m contract `tm_weather.lexicon.check_t2m`
checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import xarray as xr


class Source(Protocol):
    """What every source class provides. Classes are built as `Cls(config, catalog)` (see `open_source`).

    `kind` says what `__call__` returns:
    - "analysis": `source(times)` -> t2m `(time, y, x)`, the fields valid at `times`;
    - "stations": `source(times)` -> t2m `(time, station)`, reports at `times` (NaN where a station has none);
    - "forecast": `source(init_times)` -> t2m `(init_time, lead_time, y, x)`, the configured lead times.
    """

    name: str
    kind: str

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """The valid times ("analysis", "stations") or init times ("forecast") the source offers in
        [start, end], as sorted `datetime64[ns]`: for files, what they hold; for servers, their schedule."""
        ...

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray: ...

