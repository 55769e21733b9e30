"""Small real-format GRIB2 files on the URMA/RTMA 2.5 km CONUS Lambert conformal grid, written with ecCodes.

The grid is the one NCEP's RTMA and URMA write their `2dvaranl_ndfd.grb2_wexp` analyses on (the files Herbie
fetches): 2345 x 1597 points, first point 19.228976 N 233.723448 E, LoV 265 E, Latin1 = Latin2 = LaD = 25 N,
Dx = Dy = 2539.703 m, sphere of radius 6371200 m, scanning mode 64 (west to east, south to north). Source: the
operational RTMA/URMA wgrib2 grid spec `lambert:265.0:25.0:25.0 233.723448:2345:2539.703 19.228976:1597:2539.703`
(`grid_specs_WG2wexp`, NOAA-EMC RTMA/URMA scripts; the same numbers as `conus_ndfd_wexp` in NOAA-EMC GSI's RTMA
utilities) and the NDFD spatial reference page https://www.weather.gov/mdl/ndfd_srs (sphere 6371.2 km, Dx, scan
mode 64). NCEP grid 184 (2145 x 1377, first point 20.191999 N 238.445999 E, same projection) is the older NDFD cut.

To stay small a file holds every `step`-th point of that grid in each direction (step 4: 587 x 400 points), so its
four corners are the real grid's corners.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip

#: The URMA/RTMA 2.5 km CONUS grid ("wexp"), as GRIB2 grid definition template 3.30 keys.
NX, NY, DX = 2345, 1597, 2539.703
LAMBERT_KEYS = {
    "shapeOfTheEarth": 1,
    "scaleFactorOfRadiusOfSphericalEarth": 0,
    "scaledValueOfRadiusOfSphericalEarth": 6371200,
    "latitudeOfFirstGridPointInDegrees": 19.228976,
    "longitudeOfFirstGridPointInDegrees": 233.723448,
    "LaDInDegrees": 25.0,
    "LoVInDegrees": 265.0,
    "Latin1InDegrees": 25.0,
    "Latin2InDegrees": 25.0,
    "iScansNegatively": 0,
    "jScansPositively": 1,
    "projectionCentreFlag": 0,
    "latitudeOfSouthernPoleInDegrees": -90.0,
    "longitudeOfSouthernPoleInDegrees": 0.0,
}

#: The messages written, in file order, as (discipline, category, number, level type, level) of GRIB2 code tables
#: 0.0 / 4.1 / 4.2 / 4.5: surface pressure, then 2 m temperature and 2 m dew point, as in a real analysis file.
_MESSAGES = {"PRES": (0, 3, 0, 1, 0), "TMP": (0, 0, 0, 103, 2), "DPT": (0, 0, 6, 103, 2)}


def t2m_of(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The 2 m temperature written (K): smooth, colder to the north and the west; `lon` in degrees east (any range)."""
    return 303.15 - 0.7 * (lat - 19.0) + 0.05 * (np.mod(lon, 360.0) - 233.0)


def write_lambert_analysis(path: Path, valid_time: str, step: int = 4) -> Path:
    """Write an analysis valid at `valid_time` (UTC) on every `step`-th point of the URMA/RTMA grid to `path`:
    PRES surface, TMP 2 m (= `t2m_of` at each point), DPT 2 m. `step` must divide 2344 and 1596 (1, 2 or 4)."""
    if (NX - 1) % step or (NY - 1) % step:
        raise ValueError(f"step {step} does not divide the grid's {NX - 1} x {NY - 1} intervals")
    time = pd.Timestamp(valid_time)
    nx, ny = (NX - 1) // step + 1, (NY - 1) // step + 1
    with open(path, "wb") as out:
        for name, (discipline, category, number, level_type, level) in _MESSAGES.items():
            h = eccodes.codes_grib_new_from_samples("GRIB2")
            try:
                eccodes.codes_set(h, "gridType", "lambert")
                for key, value in {**LAMBERT_KEYS, "Nx": nx, "Ny": ny, "DxInMetres": DX * step, "DyInMetres": DX * step}.items():
                    eccodes.codes_set(h, key, value)
                product = {
                    "centre": 7,  # NCEP
                    "discipline": discipline,
                    "parameterCategory": category,
                    "parameterNumber": number,
                    "typeOfFirstFixedSurface": level_type,
                    "scaleFactorOfFirstFixedSurface": 0,
                    "scaledValueOfFirstFixedSurface": level,
                    "typeOfProcessedData": 0,  # analysis
                    "significanceOfReferenceTime": 0,  # analysis
                    "typeOfGeneratingProcess": 0,  # analysis
                    "dataDate": int(f"{time:%Y%m%d}"),
                    "dataTime": int(f"{time:%H%M}"),
                    "forecastTime": 0,
                    "bitsPerValue": 16,
                }
                for key, value in product.items():
                    eccodes.codes_set(h, key, value)
                eccodes.codes_set_values(h, np.zeros(nx * ny))  # sizes the data section before the geoiterator runs
                lat = eccodes.codes_get_array(h, "latitudes")
                lon = eccodes.codes_get_array(h, "longitudes")
                t2m = t2m_of(lat, lon)
                values = {"PRES": 101325.0 - 10.0 * (lat - 19.0), "TMP": t2m, "DPT": t2m - 5.0}[name]
                eccodes.codes_set_values(h, values)
                out.write(eccodes.codes_get_message(h))
            finally:
                eccodes.codes_release(h)
    return path
