"""Ingest benchmark: hourly T2M series at 100 sites from 13 GFS-layout GRIB2 files (f000..f012, 0.25 deg).

Compares, in one run, on the same files and sites:

- tm-weather: each file's wgrib2 `.idx` (as NOAA publishes beside every GFS file) locates the `TMP:2 m above
  ground` message; only its bytes are read and decoded (`tm_weather.grib.read_t2m_files`), then bilinear point
  extraction (`tm_weather.series.extract_points`);
- what a user writes instead: `xr.open_dataset(path, engine="cfgrib", filter_by_keys={"shortName": "2t"})` per
  file, then `.interp` (bilinear) at the sites, concatenated over the files. cfgrib scans every message of each
  file and, on a first open, writes its own index file; a second, warm run that reuses those indexes is timed too.

The files are made in a temporary folder from the real 2.5 deg GFS fixture: 21 of its messages 172..193, in GFS's
own order (TMP 2 m is the 19th), each regridded bilinearly to the 1440 x 721 global 0.25 deg grid and written
with ecCodes using the fixture's messages as templates (same complex packing); TMP 2 m also gets a diurnal term
varying with lead time. `--messages N` pads each file to N messages by repeating the fields before TMP 2 m, as
GFS's real files (about 700 messages) have hundreds of fields before it. Bytes read are measured from
/proc/self/io (`rchar`) around each method.

`--grid lambert` times the same on NBM-like CONUS files instead: the URMA/RTMA/NBM 2.5 km Lambert conformal grid
(2345 x 1597), scanning mode 80 (alternative rows, as NBM's), three messages each (PRES, TMP 2 m, DPT 2 m), written
by the test suite's `tests/grib_samples.write_lambert_analysis`. cfgrib gives no projected coordinates to
interpolate on there, so its side is the open and decode of the field alone (`.load()`), checked against
tm-weather's field at every grid point.

Each method runs `--repeat` times (tm-weather's grid cache cleared each time; cfgrib's index files deleted
before each first open); the median and range of wall and CPU time (this process's user + sys) are printed. The
ratios are cfgrib's median over tm-weather's median: how many times longer the cfgrib path takes for the same
site series (first open: as a user meets it; indexes reused: a second run over the same local files).

Run: `.venv/bin/python benchmarks/ingest.py [--messages 200] [--grid lambert] [--repeat 5]` (a few minutes on
2 cores). Results: BENCHMARKS.md, "## Ingest".
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dataclasses import dataclass

import numpy as np
import xarray as xr

import tm_weather  # noqa: F401  (pyproj before eccodes)
import eccodes  # isort: skip
from tm_weather import grib
from tm_weather.series import extract_points
from tm_weather.shipped import FIXTURES

FIXTURE = FIXTURES / "gfs" / "gfs.t12z.pgrbf120.2p5deg.grib2"
#: 1-based message numbers in the fixture, in its (GFS's) order: 172..193 (TMP 2 m is 191) less 175, a two-field
#: (UGRD + VGRD) message that ecCodes cannot regrid in place.
TEMPLATE_MESSAGES = [n for n in range(172, 194) if n != 175]
T2M_MESSAGE = 191
NI, NJ, STEP = 1440, 721, 0.25  # the GFS pgrb2.0p25 grid: 0..359.75 E, 90..-90 N


def rchar() -> int:
    """Bytes this process has read through read() calls so far (Linux /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def quarter_degree(values: np.ndarray) -> np.ndarray:
    """A 2.5 deg global field (73, 144), rows 90..-90 N, columns 0..357.5 E -> the 0.25 deg grid (721, 1440),
    bilinear, the 0/360 seam wrapped."""
    lat = np.linspace(90, -90, 73)
    lon = np.arange(145) * 2.5
    coarse = xr.DataArray(np.concatenate([values, values[:, :1]], axis=1), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    return coarse.interp(lat=np.linspace(90, -90, NJ), lon=np.arange(NI) * STEP).values


def make_files(folder: Path, leads: range, messages: int) -> list[Path]:
    """Write gfs.t12z.pgrb2.0p25.fNNN for each lead (hours) into `folder`, `messages` messages each; return the
    paths. The template messages keep their order; with `messages` above their number, the ones before TMP 2 m
    repeat (GFS's own 0.25 deg files hold about 700 messages, most of them before TMP 2 m)."""
    templates = []
    with open(FIXTURE, "rb") as f:
        for number in range(1, TEMPLATE_MESSAGES[-1] + 1):
            h = eccodes.codes_grib_new_from_file(f)
            if number in TEMPLATE_MESSAGES:
                templates.append(h)
            else:
                eccodes.codes_release(h)
    grid = {
        "Ni": NI, "Nj": NJ, "iDirectionIncrementInDegrees": STEP, "jDirectionIncrementInDegrees": STEP,
        "latitudeOfFirstGridPointInDegrees": 90.0, "longitudeOfFirstGridPointInDegrees": 0.0,
        "latitudeOfLastGridPointInDegrees": -90.0, "longitudeOfLastGridPointInDegrees": 360.0 - STEP,
    }
    coslat = np.cos(np.deg2rad(np.linspace(90, -90, NJ)))[:, None]
    encoded = []  # per template, its message bytes per lead
    for h in templates:
        fine = quarter_degree(eccodes.codes_get_values(h).reshape(73, 144))
        is_t2m = eccodes.codes_get(h, "shortName") == "2t"
        for key, value in grid.items():
            eccodes.codes_set(h, key, value)
        per_lead = []
        for lead in leads:
            eccodes.codes_set(h, "forecastTime", lead)
            if is_t2m or lead == leads[0]:  # other fields: packed once, only the header changes per lead
                eccodes.codes_set_values(h, (fine + 3.0 * np.sin(2 * np.pi * lead / 24) * coslat).ravel() if is_t2m else fine.ravel())
            per_lead.append(eccodes.codes_get_message(h))
        encoded.append(per_lead)
        eccodes.codes_release(h)
    t2m = TEMPLATE_MESSAGES.index(T2M_MESSAGE)
    order = [i % t2m for i in range(messages - (len(encoded) - t2m))] + list(range(t2m, len(encoded)))
    paths = [folder / f"gfs.t12z.pgrb2.0p25.f{lead:03d}" for lead in leads]
    for i, path in enumerate(paths):
        path.write_bytes(b"".join(encoded[t][i] for t in order))
    return paths


def sites(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`n` seeded random sites, 60 S..70 N, away from the 359.75..360 E seam (cfgrib's `.interp` cannot wrap)."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-60, 70, n)
    lon = rng.uniform(-180, 180, n)
    lon[(lon % 360) > 359.75 - 1e-9] -= 0.5
    return lat, lon, [f"site{i:03d}" for i in range(n)]


def with_cfgrib(paths: list[Path], lat: np.ndarray, lon: np.ndarray, names: list[str]) -> xr.DataArray:
    """What a user writes: cfgrib per file, then bilinear `.interp` at the sites -> (lead_time, site)."""
    target = {"latitude": xr.DataArray(lat, dims="site"), "longitude": xr.DataArray(lon % 360, dims="site")}
    series = []
    for path in paths:
        with xr.open_dataset(path, engine="cfgrib", filter_by_keys={"shortName": "2t"}, decode_timedelta=True) as ds:
            series.append(ds.t2m.interp(target, method="linear").load())
    return xr.concat(series, dim="step", coords="different", compat="equals", join="outer").assign_coords(site=names)


def lambert_files(folder: Path, leads: range) -> list[Path]:
    """NBM-like CONUS files, one per lead (f001 on), with the test suite's writer (see the module docstring)."""
    sys.path.insert(0, str(FIXTURE.parents[2]))
    from grib_samples import write_lambert_analysis

    paths = [folder / f"blend.t12z.core.f{lead + 1:03d}.co.grib2" for lead in leads]
    for lead, path in zip(leads, paths):
        write_lambert_analysis(path, f"2024-01-10T{12 + lead + 1:02d}:00" if lead < 11 else f"2024-01-11T{lead - 11:02d}:00",
                               step=1, scanning_mode=80, lead_hours=lead + 1)
    return paths


def cfgrib_fields(paths: list[Path]) -> np.ndarray:
    """What a cfgrib user gets first on a projected grid: the decoded T2M field of each file -> (file, y, x)."""
    fields = []
    for path in paths:
        with xr.open_dataset(path, engine="cfgrib", filter_by_keys={"shortName": "2t"}, decode_timedelta=True) as ds:
            fields.append(ds.t2m.load().values)
    return np.stack(fields)


def delete_cfgrib_indexes(paths: list[Path]) -> None:
    """cfgrib's own index files (`<file>.<hash>.idx`), so that its next open is a first open; not our `.idx`."""
    for path in paths:
        for index in path.parent.glob(f"{path.name}.*.idx"):
            index.unlink()


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds (this process's user + sys) of each repeat, and the bytes read by the last one."""

    wall: list[float]
    cpu: list[float]
    bytes_read: int

    def median(self, which: str) -> float:
        return statistics.median(getattr(self, which))

    def __str__(self) -> str:
        return (f"wall {self.median('wall'):6.2f} s [{min(self.wall):.2f}..{max(self.wall):.2f}], "
                f"CPU {self.median('cpu'):6.2f} s [{min(self.cpu):.2f}..{max(self.cpu):.2f}], read {self.bytes_read / 1e6:7.2f} MB")


def measure(repeat: int, before: Callable[[], None], method, *args) -> tuple[object, Timing]:
    """(result of the last call, timings of `repeat` calls of `method(*args)`, each after `before()`)."""
    wall, cpu = [], []
    for _ in range(repeat):
        before()
        read0, t0, c0 = rchar(), time.perf_counter(), time.process_time()
        out = method(*args)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        read = rchar() - read0
    return out, Timing(wall, cpu, read)


def ratio(a: Timing, b: Timing) -> str:
    return f"{a.median('wall') / b.median('wall'):.1f}x wall, {a.median('cpu') / b.median('cpu'):.1f}x CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=13, help="number of hourly lead files, f000 on (default 13)")
    parser.add_argument("--sites", type=int, default=100, help="number of sites (default 100)")
    parser.add_argument("--messages", type=int, default=len(TEMPLATE_MESSAGES),
                        help=f"messages per file (default {len(TEMPLATE_MESSAGES)}; more repeat the fields before TMP 2 m)")
    parser.add_argument("--grid", choices=["gfs", "lambert"], default="gfs",
                        help="GFS-layout 0.25 deg files (default) or NBM-like 2.5 km CONUS Lambert files")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each method (default 5)")
    args = parser.parse_args()
    if args.messages < len(TEMPLATE_MESSAGES):
        parser.error(f"--messages must be at least {len(TEMPLATE_MESSAGES)}")
    lat, lon, names = sites(args.sites)
    if args.grid == "lambert":  # inside CONUS
        rng = np.random.default_rng(0)
        lat, lon = rng.uniform(26, 48, args.sites), rng.uniform(-122, -70, args.sites)
    with tempfile.TemporaryDirectory(prefix="tm-weather-ingest-") as tmp:
        t0 = time.perf_counter()
        paths = (lambert_files(Path(tmp), range(args.leads)) if args.grid == "lambert"
                 else make_files(Path(tmp), range(args.leads), args.messages))
        t1 = time.perf_counter()
        for path in paths:
            grib.write_idx(path)
        t2 = time.perf_counter()
        file_bytes = sum(p.stat().st_size for p in paths)
        messages = 3 if args.grid == "lambert" else args.messages
        print(f"{len(paths)} files, {file_bytes / 1e6:.1f} MB, {args.grid} grid, {messages} messages each: "
              f"made in {t1 - t0:.1f} s; .idx written in {t2 - t1:.2f} s (NOAA publishes them; not counted below)")

        # Warm-up on a copy of the 2.5 deg fixture, so neither method's timing includes importing its libraries.
        warmup = Path(tmp) / "warmup.grib2"
        shutil.copy(FIXTURE, warmup)
        grib.write_idx(warmup)
        extract_points(grib.read_t2m_files([warmup], form="forecast"), *sites(args.sites))
        with_cfgrib([warmup], *sites(args.sites))

        def fresh_grid() -> None:  # each repeat builds its grid again, as one ingest run does once
            grib._grid_cache.clear()

        field, t_read = measure(args.repeat, fresh_grid, grib.read_t2m_files, paths, "forecast")
        ours, t_extract = measure(args.repeat, lambda: None, extract_points, field, lat, lon, names)
        t_ours = Timing([a + b for a, b in zip(t_read.wall, t_extract.wall)], [a + b for a, b in zip(t_read.cpu, t_extract.cpu)],
                        t_read.bytes_read + t_extract.bytes_read)
        user = cfgrib_fields if args.grid == "lambert" else with_cfgrib
        user_args = (paths,) if args.grid == "lambert" else (paths, lat, lon, names)
        cold, t_cold = measure(args.repeat, lambda: delete_cfgrib_indexes(paths), user, *user_args)
        warm, t_warm = measure(args.repeat, lambda: None, user, *user_args)

    ours = ours.isel(init_time=0)
    assert ours.shape == (args.leads, args.sites)
    if args.grid == "lambert":
        what, diff = "field values", max(float(np.abs(field.values[0] - c).max()) for c in (cold, warm))
    else:
        assert list(ours.lead_time.values // np.timedelta64(1, "h")) == list(range(args.leads))
        what, diff = "site values", max(float(np.abs(ours.values - c.values).max()) for c in (cold, warm))
    print(f"median [range] of {args.repeat} runs each; CPU = this process's user + sys")
    print(f"tm-weather, T2M by .idx byte range (read_t2m_files): {t_read}")
    print(f"tm-weather, bilinear at the sites (extract_points)  : {t_extract}")
    print(f"tm-weather, total                                   : {t_ours}")
    step = "open + load" if args.grid == "lambert" else "open_dataset + interp"
    for label, t in (("first open", t_cold), ("indexes reused", t_warm)):
        print(f"cfgrib {step}, {label:<15}: {t} -> {ratio(t, t_ours)} tm-weather's total")
    print(f"max |tm-weather - cfgrib| over the {what}: {diff:.2e} K ({'within' if diff <= 1e-4 else 'ABOVE'} 1e-4 K)")


if __name__ == "__main__":
    main()
