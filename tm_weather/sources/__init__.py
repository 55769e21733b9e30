"""One module per data source; each returns xarray in the contract of `tm_weather.sources.base`."""

from __future__ import annotations

import importlib

from tm_weather.catalog import Catalog, SourceConfig
from tm_weather.sources.base import Source

#: catalog `kind` -> "module:Class" implementing `tm_weather.sources.base.Source`.
SOURCE_CLASSES = {
    "gfs": "tm_weather.sources.gfs:GFSForecast",
    "gfs_analysis": "tm_weather.sources.gfs:GFSAnalysis",
    "nbm": "tm_weather.sources.nbm:NBMForecast",
    "grib_file": "tm_weather.sources.grib_file:GribFiles",
    "era5_file": "tm_weather.sources.era5:ERA5Files",
    "field_file": "tm_weather.sources.field_file:FieldFiles",
    "era5_arco": "tm_weather.sources.era5:ERA5Arco",
    "era5_cds": "tm_weather.sources.era5:ERA5CDS",
    "urma": "tm_weather.sources.rtma_urma:RtmaUrma",
    "rtma": "tm_weather.sources.rtma_urma:RtmaUrma",
    "isd": "tm_weather.sources.isd:ISDReports",
}


def open_source(name: str, config: SourceConfig, catalog: Catalog) -> Source:
    """Build the source named `name` in the catalog (imports only the module its kind needs)."""
    module, cls = SOURCE_CLASSES[config.kind].split(":")
    source = getattr(importlib.import_module(module), cls)(config, catalog)
    source.name = name
    return source
