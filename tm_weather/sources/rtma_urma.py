"""NOAA URMA and RTMA 2.5 km CONUS hourly analyses of 2 m temperature through Herbie (catalog kinds `urma`, `rtma`).

Herbie's `urma` / `rtma` templates, product `anl`, fetch `<model>2p5.tHHz.2dvaranl_ndfd.grb2_wexp`; only its
`:TMP:2 m above ground:` message is downloaded, by `.idx` byte range, into the catalog's cache (see
`tm_weather.sources.herbie_fetch`). The grid is Lambert conformal ("wexp": 2345 x 1597 points, 2539.703 m, LoV 265 E,
Latin1 = Latin2 = 25 N, sphere of radius 6371200 m): `source(times)` returns t2m `(time, y, x)` with x, y in metres
of that projection, its CRS (rioxarray) and 2-D `latitude` / `longitude`, as `tm_weather.grib.read_t2m` builds them.
URMA is the delayed, quality-controlled rerun of RTMA; both are valid at the top of each UTC hour.
"""

from __future__ import annotations

from tm_weather.catalog import Catalog, HerbieAnalysisConfig
from tm_weather.sources.herbie_fetch import HerbieAnalysis


class RtmaUrma(HerbieAnalysis):
    """URMA or RTMA (the config's `kind`): `source(times)` -> t2m `(time, y, x)` on the 2.5 km Lambert grid, one
    analysis per hour; `times(start, end)` gives every whole UTC hour in the window."""

    def __init__(self, config: HerbieAnalysisConfig, catalog: Catalog):
        super().__init__(config.kind, config.product, range(24), config.priority, catalog.path(catalog.cache_dir))
