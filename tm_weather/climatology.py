"""ERA5's 2016-2025 monthly-mean 2 m temperature: `monthly_mean(lat, lon, time) -> K`.

The package ships a 0.5 deg copy (`PACKAGED`: every other point of the 0.25 deg climatology in
`../shared/data/climatology/`, int16 hundredths of a kelvin; made and measured by `benchmarks/climatology_copy.py`,
what it loses is in docs/world.md). In space the field is bilinear on its grid (longitude periodic); in time the
twelve monthly means are placed at mid-month and joined by a periodic cubic spline, so the value is smooth
through the year and equals each month's mean at its middle.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.interpolate import CubicSpline

from tm_weather.errors import InputError

PACKAGED = Path(__file__).parent / "data" / "era5_t2m_monthly_climatology_2016_2025_0p5.nc"
#: Mid-month day of year (fractional, 1 = 1 January 00Z) of a 365.25-day year.
MID_MONTH_DOY = 1 + (np.arange(12) + 0.5) * 365.25 / 12
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Climatology:
    """Monthly means `t2m` `(12, lat, lon)` float32 K on a regular grid: `lat` `(ny,)` north to south from 90,
    `lon` `(nx,)` west to east from -180, both at spacing `step` degrees."""

    t2m: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    path: Path

    @property
    def step(self) -> float:
        return float(self.lon[1] - self.lon[0])

    @classmethod
    def load(cls, path: str | PathLike = PACKAGED) -> Climatology:
        """Read a climatology netCDF (`t2m(month, latitude, longitude)`, as ERA5's file or the packaged copy);
        `InputError` naming the file when it is missing, unreadable or not of that form."""
        path = Path(path)
        try:
            with xr.open_dataset(path) as ds:
                da = ds["t2m"].transpose("month", "latitude", "longitude").load()
        except FileNotFoundError as e:
            raise InputError(path, "file", "the ERA5 monthly T2M climatology (netCDF)", "no such file") from e
        except (OSError, ValueError, KeyError) as e:
            raise InputError(path, "file", "a netCDF file with t2m(month, latitude, longitude)", str(e)[:120]) from e
        lat, lon = da["latitude"].values, da["longitude"].values
        values = da.values.astype(np.float32)
        if (
            da.sizes["month"] != 12 or lat.size < 3 or lon.size < 3
            or not np.allclose(np.diff(lat), lat[1] - lat[0]) or not np.allclose(np.diff(lon), lon[1] - lon[0])
            or lat[0] != 90 or lon[0] != -180 or not np.isclose(lon[-1] + lon[1] - lon[0], 180)
        ):
            raise InputError(path, "t2m grid", "12 months on a global regular grid from 90 N, 180 W", str(dict(da.sizes)))
        if not (np.isfinite(values).all() and 180 < values.min() and values.max() < 340):
            raise InputError(path, "t2m", "finite monthly means in 180..340 K", f"{np.nanmin(values)}..{np.nanmax(values)}")
        return cls(values, lat, lon, path)

    def __call__(self, lat, lon, time) -> np.ndarray:
        """Monthly mean T2M (K, float64) at `lat`, `lon` (degrees) and UTC `time` (datetime64), broadcast together."""
        lat, lon, time = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64), np.asarray(time))
        return np.einsum("m...,...m->...", self.months(lat, lon), month_weights(time))

    def months(self, lat, lon) -> np.ndarray:
        """The twelve monthly means `(12, *shape)` K (January first), bilinear at `lat`, `lon` (degrees, broadcast)."""
        lat, lon = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        step = self.step
        fi = np.clip((self.lat[0] - lat) / step, 0, self.lat.size - 1.000001)
        fj = ((lon - self.lon[0]) / step) % self.lon.size
        i0, j0 = np.floor(fi).astype(int), np.floor(fj).astype(int)
        wi, wj = fi - i0, fj - j0
        j1 = (j0 + 1) % self.lon.size
        return (
            (1 - wi) * (1 - wj) * self.t2m[:, i0, j0] + (1 - wi) * wj * self.t2m[:, i0, j1]
            + wi * (1 - wj) * self.t2m[:, i0 + 1, j0] + wi * wj * self.t2m[:, i0 + 1, j1]
        )


def day_of_year(time) -> np.ndarray:
    """Fractional day of year (1 = 1 January 00Z) of UTC datetime64 values."""
    t = np.asarray(time, dtype="datetime64[s]")
    return (t - t.astype("datetime64[Y]")) / np.timedelta64(1, "D") + 1


def month_weights(time) -> np.ndarray:
    """Weights `(*time.shape, 12)` of the twelve monthly means at `time`: the periodic cubic spline through the
    mid-month values, written as a linear combination of them (the weights sum to 1)."""
    doy = day_of_year(time)
    return _spline_basis()(np.mod(doy - MID_MONTH_DOY[0], DAYS_PER_YEAR) + MID_MONTH_DOY[0])


@functools.cache
def _spline_basis() -> CubicSpline:
    x = np.append(MID_MONTH_DOY, MID_MONTH_DOY[0] + DAYS_PER_YEAR)
    eye = np.vstack([np.eye(12), np.eye(12)[:1]])
    return CubicSpline(x, eye, bc_type="periodic")


@functools.cache
def packaged() -> Climatology:
    """The packaged 0.5 deg climatology, read once."""
    return Climatology.load(PACKAGED)


def monthly_mean(lat, lon, time) -> np.ndarray:
    """ERA5 2016-2025 monthly-mean T2M (K) at `lat`, `lon` (degrees) and UTC `time` (datetime64), broadcasting,
    smooth in time (see the module); from the packaged 0.5 deg copy."""
    return packaged()(lat, lon, time)
