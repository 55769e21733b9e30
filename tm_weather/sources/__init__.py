"""One module per data source; each implements `tm_weather.sources.base.Source`."""

from __future__ import annotations

import importlib

from tm_weather.catalog import (
    Catalog, ERA5ArcoConfig, ERA5CDSConfig, ERA5FileConfig, FieldFileConfig, GFSAnalysisConfig, GFSConfig,
    GribFileConfig, HerbieAnalysisConfig, ISDConfig, NBMConfig, SourceConfig,
)
from tm_weather.sources.base import Source

#: Catalog config type -> "module:Class" implementing `tm_weather.sources.base.Source`. The `kind` names are
#: written once, in the configs' `kind` literals (`tm_weather.catalog`).
SOURCE_CLASSES = {
    GFSConfig: "tm_weather.sources.gfs:GFSForecast",
    GFSAnalysisConfig: "tm_weather.sources.gfs:GFSAnalysis",
    NBMConfig: "tm_weather.sources.nbm:NBMForecast",
    GribFileConfig: "tm_weather.sources.grib_file:GribFiles",
    ERA5FileConfig: "tm_weather.sources.era5:ERA5Files",
    FieldFileConfig: "tm_weather.sources.field_file:FieldFiles",
    ERA5ArcoConfig: "tm_weather.sources.era5:ERA5Arco",
    ERA5CDSConfig: "tm_weather.sources.era5:ERA5CDS",
    HerbieAnalysisConfig: "tm_weather.sources.rtma_urma:RtmaUrma",
    ISDConfig: "tm_weather.sources.isd:ISDReports",
}


def open_source(name: str, config: SourceConfig, catalog: Catalog) -> Source:
    """Build the source named `name` in the catalog (imports only the module its config needs; reads no data)."""
    module, cls = SOURCE_CLASSES[type(config)].split(":")
    source = getattr(importlib.import_module(module), cls)(config, catalog)
    source.name = name
    return source


def open_sources(catalog: Catalog) -> dict[str, Source]:
    """Every source of the catalog, by name."""
    return {name: open_source(name, config, catalog) for name, config in catalog.sources.items()}
