"""`data_catalog.yaml` -> typed, validated configuration.

The catalog names the sources, the sites, the Sentinel-2 tiles, the store and the train/val/test splits.
Relative paths are resolved against the catalog file's folder. Every model forbids unknown keys; a bad key or
value raises `InputError` with the key path (`sources.gfs.fxx[3]`) and what was expected. Names of sources,
sites and tiles become parts of store paths, so they are one safe path part each (`Name`); numbers are strict
(`lat: true` is not 1.0); dates and times lie in `tm_weather.times`'s range; a key given twice anywhere in the
file is refused (YAML would keep the last one silently).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal, Union, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tm_weather import times
from tm_weather.errors import InputError
from tm_weather.files import regular_file

#: A source, site or tile name: one path part of the store (no '/', not '.' or '..', not hidden, not empty).
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
NAME_RULE = "a name of letters, digits, '_', '.' and '-', not starting with '.' or '-' (it is a folder of the store)"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
Float = Annotated[float, Field(strict=True)]  # a YAML number, not `true` or "1"
Int = Annotated[int, Field(strict=True)]


def _in_range(value: dt.date) -> dt.date:
    if not times.in_range(value):
        raise ValueError(times.RANGE)
    return value


Day = Annotated[dt.date, AfterValidator(_in_range)]
Time = Annotated[dt.datetime, AfterValidator(_in_range)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Strict):
    """A point where hourly and daily series are kept."""

    name: Name
    lat: Float = Field(ge=-90, le=90)
    lon: Float = Field(ge=-180, le=360)


class Tile(_Strict):
    """A Sentinel-2 L2A tile (GeoTIFF) and, optionally, its DEM and land cover on the same grid."""

    name: Name
    s2: Path
    dem: Path | None = None
    lulc: Path | None = None
    scl: Path | None = None  # Sentinel-2 scene classification (SCL) on the same grid, for `read_s2l2a(scl=)`
    time: Time | None = None  # acquisition time (UTC); else read from the GeoTIFF's datetime tag
    # BOA_ADD_OFFSET in DN: 0 for harmonised products (Major-TOM, TerraMind); None: from tags or the date
    boa_add_offset: Literal[0, -1000] | None = None


class GFSConfig(_Strict):
    """NOAA GFS through Herbie: only the `TMP:2 m above ground` message, fetched by `.idx` byte range."""

    kind: Literal["gfs"]
    product: str = "pgrb2.0p25"
    cycles: list[Annotated[Int, Field(ge=0, le=23)]] = [0, 6, 12, 18]
    fxx: list[Annotated[Int, Field(ge=0, le=384)]] = list(range(13))
    priority: list[str] = ["aws", "nomads", "google", "azure"]


class GFSAnalysisConfig(_Strict):
    """The GFS analysis (f000) as truth: same fetch as `GFSConfig`, returned by valid time."""

    kind: Literal["gfs_analysis"]
    product: str = "pgrb2.0p25"
    cycles: list[Annotated[Int, Field(ge=0, le=23)]] = [0, 6, 12, 18]
    priority: list[str] = ["aws", "nomads", "google", "azure"]


class NBMConfig(_Strict):
    """NOAA's National Blend of Models through Herbie: the deterministic `TMP:2 m above ground` message of each run
    and lead, fetched by `.idx` byte range. `product`: Herbie's domain, "co" (CONUS, 2.5 km Lambert conformal),
    "ak" (Alaska, polar stereographic), "hi", "pr", "gu" (Mercator). NBM runs every hour; leads start at 1 h."""

    kind: Literal["nbm"]
    product: Literal["co", "ak", "hi", "pr", "gu"] = "co"
    cycles: list[Annotated[int, Field(ge=0, le=23)]] = list(range(24))
    fxx: list[Annotated[int, Field(ge=1, le=264)]] = list(range(1, 13))
    priority: list[str] = ["aws", "nomads"]


class GribFileConfig(_Strict):
    """Local GRIB files (any centre) holding 2 m temperature, read with ecCodes.

    `role: analysis` returns fields by valid time; `role: forecast` keeps init_time and lead_time."""

    kind: Literal["grib_file"]
    paths: list[Path] = Field(min_length=1)
    role: Literal["analysis", "forecast"] = "analysis"


class ERA5FileConfig(_Strict):
    """ERA5 2 m temperature from local GRIB or netCDF files."""

    kind: Literal["era5_file"]
    paths: list[Path] = Field(min_length=1)


class FieldFileConfig(_Strict):
    """Gridded T2M analyses from local CF netCDF files on any grid with a CRS (e.g. a projected UTM grid in
    metres with a grid-mapping variable, as rioxarray writes), merged along time."""

    kind: Literal["field_file"]
    paths: list[Path] = Field(min_length=1)


class ERA5ArcoConfig(_Strict):
    """ERA5 from the ARCO-ERA5 analysis-ready zarr store (anonymous access)."""

    kind: Literal["era5_arco"]
    url: str = "gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3"
    area: tuple[Float, Float, Float, Float] | None = None  # north, west, south, east in degrees


class ERA5CDSConfig(_Strict):
    """ERA5 from the Copernicus Climate Data Store (`reanalysis-era5-single-levels`, via cdsapi)."""

    kind: Literal["era5_cds"]
    area: tuple[Float, Float, Float, Float]  # north, west, south, east in degrees


class HerbieAnalysisConfig(_Strict):
    """NOAA URMA or RTMA 2.5 km analyses (Lambert conformal) through Herbie."""

    kind: Literal["urma", "rtma"]
    product: str = "anl"
    priority: list[str] = ["aws", "nomads", "google", "azure"]


class ISDConfig(_Strict):
    """NOAA Integrated Surface Database station reports (raw fixed-width files)."""

    kind: Literal["isd"]
    paths: list[Path] = Field(min_length=1)


SourceConfig = Annotated[
    Union[
        GFSConfig, GFSAnalysisConfig, NBMConfig, GribFileConfig, ERA5FileConfig, FieldFileConfig, ERA5ArcoConfig,
        ERA5CDSConfig, HerbieAnalysisConfig, ISDConfig,
    ],
    Field(discriminator="kind"),
]


class Split(_Strict):
    """Tiles and a UTC date range belonging to one split."""

    tiles: list[str] = []
    start: Day | None = None
    end: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Split:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Catalog(_Strict):
    """The whole catalog. `root` is the catalog file's folder; relative paths are resolved against it."""

    root: Path
    store: Path
    cache_dir: Path
    sources: dict[Name, SourceConfig] = Field(min_length=1)
    sites: list[Site] = []
    tiles: list[Tile] = []
    splits: dict[Literal["train", "val", "test"], Split] = {}

    @field_validator("sites", "tiles")
    @classmethod
    def _unique_names(cls, items: list) -> list:
        names = [i.name for i in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"names must be unique, repeated: {dupes}")
        return items

    @model_validator(mode="after")
    def _splits_consistent(self) -> Catalog:
        known = {t.name for t in self.tiles}
        seen: dict[str, str] = {}
        for split_name, split in self.splits.items():
            for tile in split.tiles:
                if tile not in known:
                    raise ValueError(f"splits.{split_name}: unknown tile {tile!r}")
                if tile in seen:
                    raise ValueError(f"tile {tile!r} is in both splits {seen[tile]!r} and {split_name!r}")
                seen[tile] = split_name
        return self

    def path(self, p: Path) -> Path:
        """`p` resolved against the catalog's folder."""
        return p if p.is_absolute() else (self.root / p).resolve()

    def gfs_forecasts(self) -> list[str]:
        """The names of the sources of kind `gfs` (sorted): where the model's GFS input may come from
        (`tiles.gfs_source` picks one)."""
        return sorted(name for name, config in self.sources.items() if config.kind == "gfs")


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog YAML; raise `InputError` naming the file and the key path on any problem."""
    path = regular_file(path, "a readable catalog YAML")  # not /dev/zero: read_text would never end
    try:
        raw = yaml.load(path.read_text(), _CatalogLoader)
    except OSError as e:
        raise InputError(path, "file", "a readable catalog YAML", e.strerror or str(e)) from e
    except UnicodeDecodeError as e:
        raise InputError(path, "encoding", "UTF-8 text", str(e)) from e
    except yaml.YAMLError as e:
        raise InputError(path, "YAML syntax", "valid YAML", str(e).replace("\n", " ")) from e
    if not isinstance(raw, dict):
        raise InputError(path, "top level", "a mapping of keys", type(raw).__name__)
    if not all(isinstance(k, str) for k in raw):
        raise InputError(path, "top level", "text keys", repr(next(k for k in raw if not isinstance(k, str)))[:80])
    if "root" in raw:
        raise InputError(path, "root", "no such key (it is the catalog file's folder)", "a value")
    try:
        return Catalog.model_validate({**raw, "root": path.resolve().parent})  # any key: ? is a null key
    except ValidationError as e:
        err = e.errors()[0]
        key = _key_path(err["loc"])
        found = "" if err["type"] == "missing" else repr(err.get("input"))[:80]
        expected = {"extra_forbidden": "a known key", "string_pattern_mismatch": NAME_RULE}.get(
            err["type"], err["msg"].removeprefix("Value error, "))
        more = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise InputError(path, key, expected + more, found) from e


class _CatalogLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping, and leaving dates and times as text for the
    models to parse (PyYAML's own parser raises a bare ValueError on `2019-02-30`)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} given twice in one mapping", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


_CatalogLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _key_path(loc: tuple) -> str:
    """('sources', 'era5', 'era5_file', 'paths', 0) -> 'sources.era5.paths[0]'.

    Pydantic inserts the union's tag (the source's `kind`) after a source's name; it is not a key of the file.
    """
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in _SOURCE_KINDS:
        loc = loc[:2] + loc[3:]
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a mapping's key: the name itself is wrong
            out += " (the name)"
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


#: Every source `kind`, read off the configs' `kind` literals (the union's tags).
_SOURCE_KINDS = {k for cfg in get_args(get_args(SourceConfig)[0]) for k in get_args(cfg.model_fields["kind"].annotation)}
