"""Make the package's 0.5 deg copy of ERA5's monthly T2M climatology and measure what it loses.

    python benchmarks/climatology_copy.py [SRC] [DST]

SRC: the 0.25 deg climatology (default ../shared/data/climatology/era5_t2m_monthly_climatology_2016_2025_0p25.nc);
DST: default `tm_weather.climatology.PACKAGED`. The copy keeps every other latitude and longitude of SRC (its
values exactly, int16 hundredths of a kelvin, zlib); between them `tm_weather.climatology` interpolates
bilinearly. Printed: the RMSE and largest error of the copy, interpolated back to the 0.25 deg points it dropped,
over all points, over points whose annual range exceeds 10 K (mostly land) and at the five real S-2 tiles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import xarray as xr

from tm_weather.climatology import PACKAGED, Climatology

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "climatology" / "era5_t2m_monthly_climatology_2016_2025_0p25.nc"
#: The five real TerraMind tiles (PROVENANCE.md), approximate centres: name, lat, lon, month.
REAL_TILES = (("Parana coast", -25.52, -48.52, 7), ("Tanzania", -6.83, 39.27, 6), ("Araucania", -38.95, -72.62, 4),
              ("Hudson Bay lowlands", 52.97, -85.95, 1), ("North Jutland", 57.26, 10.05, 10))


def make_copy(src: Path, dst: Path) -> None:
    with xr.open_dataset(src) as ds:
        coarse = ds.isel(latitude=slice(None, None, 2), longitude=slice(None, None, 2)).load()
    coarse.attrs["title"] = "ERA5 2 m temperature monthly climatology 2016-2025, 0.5 deg (every other 0.25 deg point)"
    coarse.attrs["history"] = "subsampled from the 0.25 deg file by benchmarks/climatology_copy.py"
    enc = {"t2m": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": -32768, "zlib": True,
                   "complevel": 9, "shuffle": True}}
    dst.parent.mkdir(parents=True, exist_ok=True)
    coarse.to_netcdf(dst, encoding=enc)


def main(src: Path = SRC, dst: Path = PACKAGED) -> None:
    make_copy(src, dst)
    fine, coarse = Climatology.load(src), Climatology.load(dst)
    lat, lon = np.meshgrid(fine.lat, fine.lon, indexing="ij")
    months = np.datetime64("2021-01-01") + (np.arange(12) * 30.44 + 15).astype("timedelta64[D]")
    err = np.stack([coarse(lat, lon, np.full(lat.shape, m, dtype="datetime64[s]")) - fine(lat, lon, np.full(lat.shape, m, dtype="datetime64[s]"))
                    for m in months])
    rangey = (fine.t2m.max(0) - fine.t2m.min(0)) > 10
    print(f"{dst}: {dst.stat().st_size / 1e6:.2f} MB")
    for label, sel in (("all 0.25 deg points", np.ones_like(rangey)), ("points with annual range > 10 K", rangey)):
        e = err[:, sel]
        print(f"{label:<36} RMSE {np.sqrt(np.mean(e**2)):.3f} K, 99th pct |err| {np.percentile(np.abs(e), 99):.2f} K, max {np.abs(e).max():.2f} K")
    for name, la, lo, month in REAL_TILES:
        t = np.datetime64(f"2021-{month:02d}-15")
        print(f"{name:<22} month {month:>2}: 0.25 deg {float(fine(la, lo, t)):.2f} K, 0.5 deg copy {float(coarse(la, lo, t)):.2f} K")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
