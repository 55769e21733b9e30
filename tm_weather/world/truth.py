"""The world's truth: NOAA-URMA-like 2.5 km analyses as CF netCDF (one small lat/lon grid per tile, read by the
`era5_file` source kind) and NOAA ISD fixed-width station reports (read by the `isd` kind)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from tm_weather.lexicon import T2M, T2M_ATTRS
from tm_weather.world import constants as C


def truth_axes(lat: float, lon: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(lat `(n,)` north to south, lon `(n,)` west to east), degrees: an n x n grid at the truth spacing whose
    centre cell is centred on (lat, lon)."""
    offsets = (np.arange(n) - n // 2) * C.TRUTH_RESOLUTION_DEG
    return np.round(lat - offsets, 6), np.round(lon + offsets, 6)


def write_truth(path: Path, times: np.ndarray, lat: np.ndarray, lon: np.ndarray, t2m: np.ndarray) -> None:
    """CF netCDF (classic 64-bit offset, no timestamps, so bytes depend on data only) of t2m `(time, latitude,
    longitude)` float32 K at UTC `times` (datetime64), ERA5's names and north-to-south latitudes."""
    ds = xr.Dataset(
        {T2M: (("time", "latitude", "longitude"), t2m.astype(np.float32), dict(T2M_ATTRS))},
        coords={
            "time": ("time", times.astype("datetime64[ns]"), {"standard_name": "time"}),
            "latitude": ("latitude", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "longitude": ("longitude", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "tm-weather benchmark world: 2.5 km 2 m temperature analysis (synthetic, NOAA-URMA-like)",
            "source": "tm_weather.world (see docs/world.md)",
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {"time": {"units": "hours since 1970-01-01 00:00:00", "dtype": "int32"}, T2M: {"_FillValue": None}}
    ds.to_netcdf(path, format="NETCDF3_64BIT", encoding=encoding)


def isd_record(usaf: str, wban: str, time: np.datetime64, lat: float, lon: float, elevation: float, t2m: float) -> str:
    """One ISD record (control + mandatory sections, 105 characters, no additional data) reporting air
    temperature `t2m` (K) as tenths of deg C in columns 88-92 with quality code 1; other elements missing."""
    stamp = str(np.datetime64(time, "m")).replace("-", "").replace("T", "").replace(":", "")
    tenths = int(np.round((t2m - 273.15) * 10))
    return (
        f"0000{usaf}{wban}{stamp}4{round(lat * 1000):+06d}{round(lon * 1000):+07d}FM-12{round(elevation):+05d}"
        f"99999V020999999999999999999999999999{tenths:+05d}1+99999999999"
    )


def write_isd(path: Path, station: tuple[str, str], lat: float, lon: float, elevation: float, times: np.ndarray, t2m: np.ndarray) -> None:
    """An ISD raw file of one station's hourly reports at UTC `times` `(time,)`, temperatures `t2m` `(time,)` K."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [isd_record(*station, t, lat, lon, elevation, v) for t, v in zip(times, t2m)]
    path.write_text("\n".join(lines) + "\n")
