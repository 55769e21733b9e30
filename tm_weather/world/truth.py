"""The world's truth: hourly 40 m T2M analyses on each tile's own UTM grid as CF netCDF (read by the `field_file`
source kind, as a user's own high-resolution analysis would be) and NOAA ISD fixed-width station reports (read by
the `isd` kind)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from tm_weather.lexicon import T2M, T2M_ATTRS
from tm_weather.world import constants as C


@dataclass(frozen=True)
class TruthGrid:
    """A tile's truth grid: `crs` (EPSG string), cell centres `x` `(nx,)` west to east and `y` `(ny,)` north to
    south (m), cells `C.TRUTH_PIXEL_M` wide, reaching `C.TRUTH_MARGIN_CELLS` beyond the tile; `block` sub-samples
    of the tile's pixel size per cell side."""

    crs: str
    x: np.ndarray
    y: np.ndarray
    block: int

    @classmethod
    def around(cls, crs: str, left: float, top: float, tile_px: int, pixel_m: float) -> TruthGrid:
        block = int(round(C.TRUTH_PIXEL_M / pixel_m))
        n = tile_px // block + 2 * C.TRUTH_MARGIN_CELLS
        start = -C.TRUTH_MARGIN_CELLS * C.TRUTH_PIXEL_M + C.TRUTH_PIXEL_M / 2
        offsets = start + np.arange(n) * C.TRUTH_PIXEL_M
        return cls(crs, left + offsets, top - offsets, block)

    def samples(self, pixel_m: float) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) `(ny * block, nx * block)` m of the sub-samples (pixel centres of the tile's pixel size)."""
        step = C.TRUTH_PIXEL_M / self.block
        sub = (np.arange(self.block) + 0.5) * step - C.TRUTH_PIXEL_M / 2
        return np.meshgrid((self.x[:, None] + sub[None]).ravel(), (self.y[:, None] - sub[None]).ravel())


def write_truth(path: Path, times: np.ndarray, grid: TruthGrid, t2m: np.ndarray) -> None:
    """CF netCDF (classic 64-bit offset, no timestamps, so bytes depend on data only) of t2m `(time, y, x)` K at UTC
    `times` on `grid`: int16 packed at 0.01 K, `x`/`y` in metres, the CRS in a grid-mapping variable (rioxarray's
    `spatial_ref`, with `crs_wkt`)."""
    ds = xr.Dataset(
        {T2M: (("time", "y", "x"), t2m.astype(np.float32), dict(T2M_ATTRS))},
        coords={
            "time": ("time", times.astype("datetime64[ns]"), {"standard_name": "time"}),
            "y": ("y", grid.y, {"standard_name": "projection_y_coordinate", "units": "m"}),
            "x": ("x", grid.x, {"standard_name": "projection_x_coordinate", "units": "m"}),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "tm-weather benchmark world: 40 m hourly 2 m temperature analysis on the tile's grid (synthetic)",
            "source": "tm_weather.world (see docs/world.md)",
        },
    ).rio.write_crs(grid.crs)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {
        "time": {"units": "hours since 1970-01-01 00:00:00", "dtype": "int32"},
        T2M: {"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": np.int16(-32768),
              **ds[T2M].encoding},  # rioxarray's grid_mapping
    }
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
