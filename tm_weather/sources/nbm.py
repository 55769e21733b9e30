"""NOAA's National Blend of Models (NBM) 2 m temperature forecasts through Herbie (catalog kind `nbm`).

The NBM is the calibrated blend of NWS and international models that NWS forecasters start from. Herbie's `nbm`
template fetches `blend.tHHz.core.fFFF.<product>.grib2` (runs every hour, leads from 1 h); only its deterministic
`TMP:2 m above ground` message is downloaded, by `.idx` byte range, into the catalog's cache
(`tm_weather.sources.herbie_fetch` says where Herbie keeps what). The core file also holds that parameter's
ensemble spread (`...:6 hour fcst:ens std dev`) and probabilities: the search is anchored at the end of the line so
they are never fetched. The CONUS product ("co") is on the same 2.5 km Lambert conformal grid as URMA/RTMA, stored
with alternative row scanning (scanning mode 80); `tm_weather.grib.read_t2m` reads it, and the Alaska (polar
stereographic) and Hawaii / Puerto Rico / Guam (Mercator) products, into `(init_time, lead_time, y, x)` in metres
of the product's projection, with 2-D `latitude` / `longitude`.
"""

from __future__ import annotations

from tm_weather.catalog import Catalog, NBMConfig
from tm_weather.sources.herbie_fetch import HerbieForecast

#: Herbie's inventory regex for NBM's deterministic 2 m temperature. Herbie searches each line's fields from the
#: variable on, joined by ":" with one added at the end; where other lines of the file have a further field (NBM's
#: "ens std dev"), the deterministic line's empty one reads "nan" (herbie-data 2026.10, `Herbie.inventory`).
NBM_T2M_SEARCH = r":TMP:2 m above ground:\d+ hour fcst:(?:nan:)?$"


class NBMForecast(HerbieForecast):
    """NBM forecasts (`HerbieForecast`): the deterministic message only (`NBM_T2M_SEARCH`)."""

    search = NBM_T2M_SEARCH

    def __init__(self, config: NBMConfig, catalog: Catalog):
        super().__init__("nbm", config, catalog)
