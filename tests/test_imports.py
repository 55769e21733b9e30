"""The eccodes/pyproj wheels crash the interpreter at exit if eccodes is loaded first; tm_weather prevents it."""

import subprocess
import sys


def test_all_libraries_import_and_exit_cleanly():
    code = "import tm_weather, eccodes, cfgrib, herbie, xarray, zarr, rioxarray, scores, torch, lightning"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
