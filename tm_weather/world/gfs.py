"""The world's GFS: GRIB2 files in Herbie's cache layout, written with ecCodes from its GRIB2 sample.

`<cache>/gfs/YYYYMMDD/gfs.tHHz.pgrb2.0p25.fFFF` (+ `.idx` from `tm_weather.grib.write_idx`), each holding four
messages on a regional 0.25 deg lat/lon grid (north to south, as GFS): PRMSL (mean sea level), HGT (surface: the
model orography), TMP (2 m above ground) and RH (2 m above ground), so reading TMP by `.idx` byte range matters.
The forecast is the grid-scale world (the world's terms on GFS's cells, no unresolved noise) plus an error field
whose standard deviation grows with lead time (`constants.GFS_ERROR_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import eccodes
import numpy as np

from tm_weather import grib
from tm_weather.world import constants as C

PRODUCT = "pgrb2.0p25"
#: (discipline, category, number, typeOfFirstFixedSurface, level, bitsPerValue) of each message, in file order.
MESSAGES = {
    "prmsl": (0, 3, 1, 101, 0, 16),
    "orography": (0, 3, 5, 1, 0, 16),
    "t2m": (0, 0, 0, 103, 2, 16),
    "rh2m": (0, 1, 1, 103, 2, 12),
}
#: Decoy-message relations (assumed, only so the other messages look like weather): Pa of pressure per K of
#: synoptic anomaly, % of humidity per K of diurnal anomaly.
PRMSL_PA_PER_K = -120.0
RH_PERCENT_PER_K = -4.0


@dataclass(frozen=True)
class GFSGrid:
    """The regional 0.25 deg grid: lat `(ny,)` north to south, lon `(nx,)` west to east, degrees."""

    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def covering(cls, lat: np.ndarray, lon: np.ndarray, margin_deg: float = 1.0) -> GFSGrid:
        """The grid over the points' bounding box plus `margin_deg`, snapped to the 0.25 deg lattice."""
        r = C.GFS_RESOLUTION_DEG
        south, north = np.floor((lat.min() - margin_deg) / r) * r, np.ceil((lat.max() + margin_deg) / r) * r
        west, east = np.floor((lon.min() - margin_deg) / r) * r, np.ceil((lon.max() + margin_deg) / r) * r
        return cls(np.arange(north, south - r / 2, -r), np.arange(west, east + r / 2, r))

    @property
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of every grid point, `(ny * nx,)` each, row-major from the north-west."""
        glat, glon = np.meshgrid(self.lat, self.lon, indexing="ij")
        return glat.ravel(), glon.ravel()


def error_sd(lead: np.ndarray) -> np.ndarray:
    """Standard deviation (K) of the GFS T2M error at lead hours `lead`."""
    return C.GFS_ERROR_ANALYSIS_K + C.GFS_ERROR_GROWTH_K_PER_H * np.asarray(lead, dtype=np.float64)


def gfs_path(cache: Path, init: np.datetime64, lead: int) -> Path:
    """Herbie's cache path of one GFS file."""
    day = str(np.datetime64(init, "D")).replace("-", "")
    hour = int((np.datetime64(init, "h") - np.datetime64(init, "D")).astype(int))
    return cache / "gfs" / day / f"gfs.t{hour:02d}z.{PRODUCT}.f{lead:03d}"


class GFSWriter:
    """Writes GRIB2 files of `MESSAGES` on one grid: one ecCodes handle per message, made once from the GRIB2
    sample and reused for every file (only the run, lead and values change). Use as a context manager."""

    def __init__(self, grid: GFSGrid):
        self.grid = grid
        self.handles: dict[str, int] = {}
        base = eccodes.codes_grib_new_from_samples("GRIB2")
        try:
            _set(base, (
                ("centre", 7), ("subCentre", 0), ("generatingProcessIdentifier", 96),
                ("significanceOfReferenceTime", 1), ("productionStatusOfProcessedData", 0),
                ("shapeOfTheEarth", 6), ("Ni", grid.lon.size), ("Nj", grid.lat.size),
                ("latitudeOfFirstGridPointInDegrees", float(grid.lat[0])),
                ("longitudeOfFirstGridPointInDegrees", float(grid.lon[0])),
                ("latitudeOfLastGridPointInDegrees", float(grid.lat[-1])),
                ("longitudeOfLastGridPointInDegrees", float(grid.lon[-1])),
                ("iDirectionIncrementInDegrees", C.GFS_RESOLUTION_DEG), ("jDirectionIncrementInDegrees", C.GFS_RESOLUTION_DEG),
                ("iScansNegatively", 0), ("jScansPositively", 0), ("typeOfGeneratingProcess", 2), ("stepUnits", 1),
            ))
            for name, (discipline, category, number, surface, level, bits) in MESSAGES.items():
                h = self.handles[name] = eccodes.codes_clone(base)
                _set(h, (
                    ("discipline", discipline), ("parameterCategory", category), ("parameterNumber", number),
                    ("typeOfFirstFixedSurface", surface), ("scaleFactorOfFirstFixedSurface", 0),
                    ("scaledValueOfFirstFixedSurface", level), ("bitsPerValue", bits),
                ))
        finally:
            eccodes.codes_release(base)

    def __enter__(self) -> GFSWriter:
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles.values():
            eccodes.codes_release(h)
        self.handles = {}

    def write(self, path: Path, init: np.datetime64, lead: int, fields: dict[str, np.ndarray]) -> None:
        """Write one file of `MESSAGES` (each `fields[name]` `(ny, nx)`: Pa, m, K, %) and its `.idx`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        day = np.datetime64(init, "D")
        hour = int((np.datetime64(init, "h") - day).astype(int))
        with open(path, "wb") as f:
            for name, h in self.handles.items():
                _set(h, (
                    ("dataDate", int(str(day).replace("-", ""))), ("dataTime", hour * 100),
                    ("typeOfProcessedData", 1 if lead else 0), ("forecastTime", lead),
                ))
                eccodes.codes_set_values(h, np.asarray(fields[name], dtype=np.float64).ravel())
                eccodes.codes_write(h, f)
        grib.write_idx(path)


def write_gfs_file(path: Path, grid: GFSGrid, init: np.datetime64, lead: int, fields: dict[str, np.ndarray]) -> None:
    """Write one GRIB2 file of `MESSAGES` (each `fields[name]` `(ny, nx)`: Pa, m, K, %) and its `.idx`."""
    with GFSWriter(grid) as writer:
        writer.write(path, init, lead, fields)


def _set(handle: int, items: tuple[tuple[str, int | float], ...]) -> None:
    for key, value in items:
        eccodes.codes_set(handle, key, value)
