"""NOAA GFS 2 m temperature through Herbie: forecasts (`gfs`) and the analysis, lead 0 (`gfs_analysis`).

Only the `:TMP:2 m above ground:` message of each file is fetched, by `.idx` byte range, into the catalog's cache
(`tm_weather.sources.herbie_fetch` says where Herbie keeps what). Fields are on the product's regular lat/lon grid
(`pgrb2.0p25`: 1440 x 721, x = longitude in -180..180 as `tm_weather.grib.read_t2m` returns it, EPSG:4326).

Herbie's GFS template knows product `pgrb2.0p25` (NOAA's cloud archives) only for runs from 2021-01-01; earlier runs
come from NCEI as products "0.5-degree" or "1.0-degree", and a catalog product Herbie does not know for a run's date
is an `InputError`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from tm_weather.catalog import Catalog, GFSAnalysisConfig, GFSConfig
from tm_weather.errors import InputError
from tm_weather.sources.herbie_fetch import HerbieAnalysis, HerbieForecast, fetch_message

OROGRAPHY_SEARCH = ":HGT:surface:"


class GFSForecast(HerbieForecast):
    """GFS forecasts (`HerbieForecast`) with the model's orography (`tm_weather.sources.base.OrographySource`)."""

    def __init__(self, config: GFSConfig, catalog: Catalog):
        super().__init__("gfs", config, catalog)

    def orography(self, init: np.datetime64) -> xr.DataArray:
        """GFS model orography (m) `(y, x)` (EPSG:4326, y south to north) of run `init`, from its f000 file's
        `HGT:surface` message (fetched by `.idx` byte range like T2M)."""
        path = fetch_message(self.model, self.product, init, 0, OROGRAPHY_SEARCH, self.priority, self.save_dir)
        with xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": ""}) as ds:
            if "orog" not in ds:
                raise InputError(path, "orography", "an HGT:surface (orog) message", str(list(ds.data_vars)))
            orog = ds["orog"].load()
        orog = orog.drop_vars([c for c in orog.coords if c not in ("latitude", "longitude")])
        orog = orog.rename(latitude="y", longitude="x")
        return orog.sortby("y").rio.write_crs("EPSG:4326")


class GFSAnalysis(HerbieAnalysis):
    """The GFS analysis (lead 0) as truth: `source(times)` -> t2m `(time, y, x)` at the configured cycles."""

    def __init__(self, config: GFSAnalysisConfig, catalog: Catalog):
        super().__init__("gfs", config.product, config.cycles, config.priority, catalog.path(catalog.cache_dir))
