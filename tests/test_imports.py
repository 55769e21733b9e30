"""The eccodes/pyproj wheels crash the interpreter at exit if eccodes is loaded first; tm_weather prevents it."""

import subprocess
import sys


def test_all_libraries_import_and_exit_cleanly():
    code = "import tm_weather, eccodes, cfgrib, herbie, xarray, zarr, rioxarray, scores, torch, lightning"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_plain_xarray_open_exits_cleanly_in_the_venv(tmp_path):
    """Without importing tm_weather, `xr.open_dataset` loads every xarray backend (cfgrib's eccodes before
    rioxarray's pyproj); the set-up's `.pth` file imports pyproj first in every interpreter of the venv."""
    import numpy as np
    import xarray as xr

    path = tmp_path / "t.nc"
    xr.Dataset({"t": (("y", "x"), np.ones((2, 2), np.float32))}).to_netcdf(path)
    code = "import sys, xarray as xr; print(float(xr.open_dataset(sys.argv[1])['t'].mean()))"
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "1.0", proc.stderr[-2000:]
