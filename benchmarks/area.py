"""Area benchmark (issue 16): `tm_weather.generate` over a 10 km x 10 km area (1000 x 1000 px at 10 m), 8 members,
with the shipped transformer and anomaly network, the DEM given, no GFS: wall time, peak resident memory, tiles/s,
and the extrapolation to a full 110 km Sentinel-2 tile (10980 x 10980 px; extrapolated from the tile rate and the
per-pixel memory, not measured).

The scene is the real tile tests/data/sentinel2/terramind-examples/S2L2A/38D_378R_2_3.tif and its mirror images
tiled to 1000 x 1000 px on the tile's UTM grid (and its DEM likewise), written as GeoTIFFs to a temporary folder.
Each run is a fresh process (so its peak RSS is its own, `resource.getrusage` of the child), timed from the call of
`tm_weather.generate` (networks loaded inside it) to the returned dataset; median and range over `--runs`.

    .venv/bin/python benchmarks/area.py [--runs 3] [--members 8] [--size 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TILES = ROOT / "tests" / "data" / "sentinel2" / "terramind-examples"
NAME = "38D_378R_2_3"
FULL_TILE_PX = 10980


def mirrored(path: Path, size: int, out: Path) -> Path:
    """`path` (a 224 x 224 GeoTIFF) and its mirror images tiled to `size` x `size` px, written to `out`."""
    import rasterio

    with rasterio.open(path) as src:
        a, profile, tags = src.read(), src.profile, src.tags()
    if not tags.get("datetime"):
        with rasterio.open(TILES / "S2RGB" / path.name) as rgb:
            tags["datetime"] = rgb.tags()["datetime"]
    reps = -(-size // a.shape[1])
    row = np.concatenate([a if i % 2 == 0 else a[:, :, ::-1] for i in range(reps)], axis=2)
    big = np.concatenate([row if i % 2 == 0 else row[:, ::-1] for i in range(reps)], axis=1)[:, :size, :size]
    profile.update(width=size, height=size, tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(big)
        dst.update_tags(**tags)
    return out


def one_run(s2: Path, dem: Path, members: int) -> dict:
    """In this process: generate over the whole scene -> wall time (s), the process's CPU time (s, imports and
    loading included), tiles, peak RSS (bytes)."""
    import tm_weather

    start = time.perf_counter()
    ds = tm_weather.generate(s2, "2023-06-10T10:00", dem=dem, members=members, boa_add_offset=0)
    wall = time.perf_counter() - start
    assert np.isfinite(ds["t2m_mean"].values).all()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "tiles": int(ds.attrs["tiles"]),
            "peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux: KiB
            "px": int(ds.sizes["y"] * ds.sizes["x"])}


def child(s2: Path, dem: Path, members: int) -> dict:
    """`one_run` in a fresh process -> its result and the 1-minute load average before it."""
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--members", str(members), "--child", str(s2), str(dem)],
                         check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(out.stdout.strip().splitlines()[-1]) | {"load_before": load}
    print(result, flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--size", type=int, default=1000, help="area side, px (10 m)")
    p.add_argument("--child", nargs=2, metavar=("S2", "DEM"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(one_run(Path(args.child[0]), Path(args.child[1]), args.members)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        s2 = mirrored(TILES / "S2L2A" / f"{NAME}.tif", args.size, Path(tmp) / "s2.tif")
        dem = mirrored(TILES / "DEM" / f"{NAME}.tif", args.size, Path(tmp) / "dem.tif")
        runs = [child(s2, dem, args.members) for _ in range(args.runs)]
        half = args.size // 2  # one run on a quarter of the area: how peak memory grows with the area
        small = child(mirrored(TILES / "S2L2A" / f"{NAME}.tif", half, Path(tmp) / "s2h.tif"),
                      mirrored(TILES / "DEM" / f"{NAME}.tif", half, Path(tmp) / "demh.tif"), args.members)
    wall = np.array([r["wall_s"] for r in runs])
    rss = np.array([r["peak_rss_bytes"] for r in runs]) / 2**30
    cpu = np.array([r["cpu_s"] for r in runs])
    tiles, px = runs[0]["tiles"], runs[0]["px"]
    rate = tiles / wall
    from tm_weather.area import tile_starts

    full_tiles = len(tile_starts(FULL_TILE_PX)) ** 2
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"area {args.size} x {args.size} px, {args.members} members, {tiles} tiles:")
    print(f"  wall time  median {np.median(wall):.1f} s (range {wall.min():.1f}-{wall.max():.1f})")
    print(f"  CPU time   median {np.median(cpu):.1f} s (range {cpu.min():.1f}-{cpu.max():.1f}; whole process, user + system)")
    print(f"  peak RSS   median {np.median(rss):.2f} GiB (range {rss.min():.2f}-{rss.max():.2f})")
    print(f"  tiles/s    median {np.median(rate):.2f} (range {rate.min():.2f}-{rate.max():.2f})")
    loads = " ".join(f"{r['load_before']:.2f}" for r in runs)
    print(f"  1-min load average before each run: {loads}")
    per_tile = np.median(wall) / tiles
    print(f"extrapolated (not measured) to a full S-2 tile, {FULL_TILE_PX} x {FULL_TILE_PX} px: {full_tiles} tiles, "
          f"about {full_tiles * per_tile / 60:.0f} min at {1 / per_tile:.2f} tiles/s")
    slope = (np.median([r["peak_rss_bytes"] for r in runs]) - small["peak_rss_bytes"]) / (px - small["px"])
    fixed = small["peak_rss_bytes"] - slope * small["px"]
    print(f"  memory: peak RSS {fixed / 2**30:.2f} GiB + {slope:.0f} B/px (from the {args.size} and {args.size // 2} px "
          f"areas) -> about {(fixed + slope * FULL_TILE_PX**2) / 2**30:.1f} GiB for a full tile")


if __name__ == "__main__":
    main()
