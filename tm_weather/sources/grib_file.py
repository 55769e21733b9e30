"""Local GRIB files (any centre, GRIB1 or GRIB2) holding 2 m temperature: catalog kind `grib_file`.

Each file is read through the wgrib2 `.idx` beside it when there is one (only the T2M messages' bytes are read;
`tm-weather index` writes them), else scanned with ecCodes (`tm_weather.grib`). `role: analysis` returns fields
by valid time `(time, y, x)`; `role: forecast` returns `(init_time, lead_time, y, x)` for the requested init
times, with every lead time the files hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from tm_weather import grib
from tm_weather.catalog import Catalog, GribFileConfig
from tm_weather.errors import InputError
from tm_weather.files import file_format
from tm_weather.lexicon import check_t2m
from tm_weather.sources.base import ANALYSIS, FORECAST


class GribFiles:
    """T2M from the GRIB files listed in a `grib_file` catalog entry (see `tm_weather.sources.base.Source`)."""

    name = "grib_file"
    remote = False

    def __init__(self, config: GribFileConfig, catalog: Catalog) -> None:
        self.role = config.role
        self.dims = ANALYSIS if config.role == "analysis" else FORECAST
        self.paths = [catalog.path(p) for p in config.paths]
        self._file_times: dict[Path, np.ndarray] | None = None

    def _times_by_file(self) -> dict[Path, np.ndarray]:
        """Each file's valid times (analysis) or init times (forecast), from message headers, read once."""
        if self._file_times is None:
            self._file_times = {}
            for path in self.paths:
                file_format(path, ("GRIB",))  # a bounded read: ecCodes would scan /dev/zero forever
                inits, valids = grib.t2m_times(grib.t2m_source(path), where=path)
                self._file_times[path] = np.unique(valids if self.role == "analysis" else inits)
        return self._file_times

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """Sorted datetime64[ns] valid times (analysis) or init times (forecast) the files hold in [start, end]."""
        held = np.unique(np.concatenate(list(self._times_by_file().values())))
        return held[(held >= np.datetime64(start, "ns")) & (held <= np.datetime64(end, "ns"))]

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        """t2m at `times`: `(time, y, x)` (analysis) or `(init_time, lead_time, y, x)` (forecast: `times` are init
        times). Only the files holding a requested time are read; a time no file holds raises `InputError`."""
        wanted = np.unique(np.asarray(times, dtype="datetime64[ns]"))
        by_file = self._times_by_file()
        missing = np.setdiff1d(wanted, np.concatenate(list(by_file.values())))
        if missing.size:
            dim = "valid time" if self.role == "analysis" else "init time"
            raise InputError(f"sources.{self.name}", dim, "a time the GRIB files hold", f"{missing.size} such, the first {missing[0]}")
        paths = [path for path, held in by_file.items() if np.isin(held, wanted).any()]
        da = grib.read_t2m_files(paths, form=self.role)
        return check_t2m(da.sel({self.dims[0]: wanted}), f"sources.{self.name}")  # time or init_time
