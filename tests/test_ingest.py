"""`tm-weather ingest` end to end on the real fixtures: values, idempotence, bad input, SIGKILL."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import eccodes
import numpy as np
import pytest
import yaml

from kill_support import Run, cli, start_forkserver
from test_store import tree_hash
from tm_weather.cli import main
from tm_weather.errors import EXIT_INPUT
from tm_weather.store import Store

ERA5 = Path(__file__).parent / "data" / "era5" / "era5_t2m_uk_2019-03-01_21.grib"
CORRUPT = Path(__file__).parent / "data" / "bad" / "era5-levels-corrupted.grib"
# Two sites on ERA5 grid points (reference = the grid values) and one between them (reference = bilinear).
SITES = [
    {"name": "on_grid_a", "lat": 51.5, "lon": -0.25},
    {"name": "on_grid_b", "lat": 55.0, "lon": -3.0},
    {"name": "between", "lat": 51.51, "lon": -0.13},
]


def catalog(tmp_path: Path, sources: dict) -> Path:
    path = tmp_path / "catalog.yaml"
    doc = {"store": "store.zarr", "cache_dir": "cache", "sources": sources, "sites": SITES}
    path.write_text(yaml.safe_dump(doc))
    return path


def era5_values() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight from ecCodes: values (time, lat, lon) in K, latitudes (descending), longitudes."""
    fields, lats, lons = [], None, None
    with open(ERA5, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            ni, nj = eccodes.codes_get(h, "Ni"), eccodes.codes_get(h, "Nj")
            fields.append(eccodes.codes_get_values(h).reshape(nj, ni))
            assert eccodes.codes_get(h, "jScansPositively") == 0
            if lats is None:
                lats = np.sort(eccodes.codes_get_array(h, "distinctLatitudes"))[::-1]  # rows scan north to south
                lons = eccodes.codes_get_array(h, "distinctLongitudes")
                lons = np.where(lons > 180, lons - 360, lons)
            eccodes.codes_release(h)
    return np.array(fields), lats, lons


def reference_series(values, lats, lons, lat, lon) -> np.ndarray:
    """Bilinear by hand between the four surrounding grid points (exact on a grid point)."""
    j = np.searchsorted(-lats, -lat, side="right") - 1  # lats descending
    i = np.searchsorted(lons, lon, side="right") - 1
    j, i = min(j, lats.size - 2), min(i, lons.size - 2)
    wy = (lats[j] - lat) / (lats[j] - lats[j + 1])
    wx = (lon - lons[i]) / (lons[i + 1] - lons[i])
    return (
        (1 - wy) * (1 - wx) * values[:, j, i]
        + (1 - wy) * wx * values[:, j, i + 1]
        + wy * (1 - wx) * values[:, j + 1, i]
        + wy * wx * values[:, j + 1, i + 1]
    )


@pytest.fixture(scope="module")
def era5_ingest(tmp_path_factory) -> tuple[Path, Path, float, str]:
    """One uninterrupted `tm-weather ingest` of the ERA5 fixture, in a run forked from an interpreter that has
    imported the CLI (`kill_support`, as the SIGKILL test's runs): its folder, catalog, seconds and store's
    `tree_hash`."""
    tmp = tmp_path_factory.mktemp("era5")
    path = catalog(tmp, {"era5": {"kind": "era5_file", "paths": [str(ERA5)]}})
    start_forkserver()
    t0 = time.monotonic()
    assert Run(cli, ["ingest", "--catalog", str(path), "--quiet"]).wait(timeout=300) == 0
    return tmp, path, time.monotonic() - t0, tree_hash(tmp / "store.zarr")


@pytest.fixture(scope="module")
def era5_store(era5_ingest) -> tuple[Path, Path]:
    return era5_ingest[:2]


def test_era5_hourly_and_daily_equal_numpy_reference(era5_store):
    tmp, _ = era5_store
    ds = Store(tmp / "store.zarr").read("hourly", "era5")
    assert ds.sizes == {"site": 3, "time": 504, "date": 21}
    values, lats, lons = era5_values()
    for site in SITES:
        ref = reference_series(values, lats, lons, site["lat"], site["lon"])
        got = ds["t2m"].sel(site=site["name"]).values
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
        ref_daily = ref.reshape(21, 24).mean(axis=1)
        np.testing.assert_allclose(ds["t2m_mean"].sel(site=site["name"]).values, ref_daily, atol=1e-4, rtol=0)
        np.testing.assert_allclose(ds["t2m_min"].sel(site=site["name"]).values, ref.reshape(21, 24).min(1), atol=1e-4)
    assert (ds["n_hours"].values == 24).all()
    assert "24 of its 24" in ds.attrs["completeness"]


def test_second_ingest_changes_nothing(era5_store, capsys):
    tmp, path = era5_store
    before = tree_hash(tmp / "store.zarr")
    assert main(["ingest", "--catalog", str(path), "--quiet"]) == 0
    assert "partitions written: 0, already up to date: 21" in capsys.readouterr().out
    assert tree_hash(tmp / "store.zarr") == before


def test_corrupt_grib_exits_nonzero_naming_file_and_leaves_store_unchanged(tmp_path, capsys):
    good = catalog(tmp_path, {"era5": {"kind": "era5_file", "paths": [str(ERA5)]}})
    assert main(["ingest", "--catalog", str(good), "--quiet"]) == 0
    before = tree_hash(tmp_path / "store.zarr")
    bad = catalog(
        tmp_path,
        {"era5": {"kind": "era5_file", "paths": [str(ERA5)]}, "broken": {"kind": "era5_file", "paths": [str(CORRUPT)]}},
    )
    assert main(["ingest", "--catalog", str(bad), "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "era5-levels-corrupted.grib" in err and "error" in err
    assert tree_hash(tmp_path / "store.zarr") == before


def test_unknown_source_and_missing_window_are_usage_errors(tmp_path, capsys):
    path = catalog(tmp_path, {"gfs": {"kind": "gfs"}})
    assert main(["ingest", "--catalog", str(path), "--source", "nope"]) == EXIT_INPUT
    assert main(["ingest", "--catalog", str(path)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "nope" in err and "--start/--end" in err
    assert not (tmp_path / "store.zarr").exists()


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun_equals_uninterrupted(era5_ingest, tmp_path):
    """Kill `tm-weather ingest` at three random moments, re-run it: same store as the uninterrupted run of
    `era5_ingest`. The killed runs are forked as that one was (`kill_support`), so their time is the ingest's
    own; the final re-run is a new interpreter."""
    _, _, duration, expected = era5_ingest
    cli_args = ["ingest", "--quiet", "--catalog"]
    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    catalog(killed_dir, {"era5": {"kind": "era5_file", "paths": [str(ERA5)]}})
    rng = np.random.default_rng(2)
    killed = 0
    for _ in range(3):
        proc = Run(cli, cli_args + [str(killed_dir / "catalog.yaml")])
        try:  # a re-run after a kill has less left to write, and may finish before its kill comes
            code = proc.wait(timeout=rng.uniform(0.4 * duration, 0.8 * duration))  # inside the writing
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            code = proc.wait()
        assert code in (0, -signal.SIGKILL)
        killed += code == -signal.SIGKILL
    assert killed >= 1
    subprocess.run([sys.executable, "-m", "tm_weather.cli", *cli_args, str(killed_dir / "catalog.yaml")], check=True,
                   timeout=300)
    assert tree_hash(killed_dir / "store.zarr") == expected
    shutil.rmtree(killed_dir)


def test_store_dot_over_a_user_folder_is_refused_and_every_file_kept(tmp_path, capsys):
    """Issue 18 item 1: `store: .` in a catalog kept among the user's files."""
    user = tmp_path / "mywork"
    (user / "sub").mkdir(parents=True)
    (user / "sub" / "thesis.partial").write_text("chapter 1")
    (user / "results.csv").write_text("a,b\n1,2\n")
    path = catalog(user, {"era5": {"kind": "era5_file", "paths": [str(ERA5)]}})
    path.write_text(path.read_text().replace("store: store.zarr", "store: ."))
    before = tree_hash(tmp_path)
    assert main(["ingest", "--catalog", str(path), "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "mywork" in err and "not a tm-weather store" in err
    assert tree_hash(tmp_path) == before  # thesis.partial still there; no zarr.json, forecast/, lock or staging
