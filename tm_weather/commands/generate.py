"""`tm-weather generate`: T2M fields and hourly profiles for a Sentinel-2 tile, as an ensemble, to netCDF or GeoTIFF."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tm_weather.commands import bounded_int
from tm_weather.errors import EXIT_OK, InputError
from tm_weather.model import DEFAULT_CHECKPOINT, MAX_MEMBERS, MAX_STEPS
from tm_weather.outputs import atomic_file, check_output
from tm_weather.times import utc_time


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate 2 m temperature on a Sentinel-2 tile (ensemble, netCDF or GeoTIFF)",
        description="Generate the 2 m temperature field at --time on a 224 x 224 Sentinel-2 L2A tile, and the tile's "
        "hourly profile over that UTC day, as --members ensemble members, conditioned on the tile, its place and the "
        "time, and optionally on a DEM, a land-cover map and the GFS forecast at the tile (then the profile is GFS "
        "plus a generated correction, as model output statistics).",
    )
    p.add_argument("--s2", type=Path, required=True, help="Sentinel-2 L2A GeoTIFF (12 bands B01..B12, DN)")
    p.add_argument("--time", required=True, help="valid time, ISO 8601 UTC (e.g. 2023-11-14T10:00)")
    p.add_argument("--acquired", help="the tile's acquisition time, ISO 8601 UTC, when neither the GeoTIFF nor a "
                   "sibling S2RGB/NDVI/LULC file has a datetime tag")
    p.add_argument("--dem", type=Path, help="elevation GeoTIFF on the tile's grid (m)")
    p.add_argument("--lulc", type=Path, help="land-cover GeoTIFF on the tile's grid (TerraMind classes 1-9)")
    p.add_argument("--gfs", metavar="CATALOG[:SOURCE]", help="catalog whose GFS forecast source (default name: gfs) "
                   "gives the valid day's hours at the tile centre, each from the latest run at most 12 h ahead; with "
                   "--dem, brought from GFS's orography to the DEM's mean height at -6.5 K/km, as the model was "
                   "trained (give both)")
    p.add_argument("--members", type=bounded_int(1, MAX_MEMBERS), default=8,
                   help=f"ensemble members, 1 to {MAX_MEMBERS} (one batch; default: 8)")
    p.add_argument("--tim", action="store_true", help="Thinking-in-Modalities: generate LULC and NDVI first, feed them back")
    p.add_argument("--seed", type=bounded_int(0, 2**63 - 1), default=0,
                   help="random seed, 0 to 2^63-1 (same seed, same output)")
    p.add_argument("--steps", type=bounded_int(1, MAX_STEPS), default=8,
                   help=f"decoding steps for the field, 1 to {MAX_STEPS} (default: 8)")
    p.add_argument("--boa-add-offset", type=int, choices=(0, -1000), help="S-2 BOA_ADD_OFFSET in DN, if the file's tags lack it")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                   help="transformer checkpoint (default: %(default)s)")
    p.add_argument("--regression", type=Path, help="regression network (tm_weather/model/anomaly.py; default: the one "
                   "the checkpoint was trained with, beside it; its sha256 must match)")
    p.add_argument("--tokenizers", type=Path, help="folder of tokenizer checkpoints (default: the shipped tokenizers/)")
    p.add_argument("--out", type=Path, required=True, help="output file: .nc (CF netCDF) or .tif (GeoTIFF)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tm_weather.model.generate import GenerationConfig
    from tm_weather.model.generator import Generator
    from tm_weather.tiles import read_tile

    if args.out.suffix not in (".nc", ".tif", ".tiff"):
        raise InputError("--out", "suffix", ".nc or .tif", args.out.suffix)
    check_output(args.out, "--out")
    time = utc_time(args.time, "--time", "value")
    acquired = utc_time(args.acquired, "--acquired", "value") if args.acquired is not None else None
    if not args.checkpoint.is_file():
        raise InputError(args.checkpoint, "checkpoint", "a trained transformer (tm-weather train)", "no such file")
    from tm_weather.terramind.model import is_checkpoint

    if is_checkpoint(args.checkpoint):  # trained with --backbone terramind-*: needs the terramind extra
        return _run_terramind(args, time, acquired)
    generator = Generator.load(args.checkpoint, args.tokenizers, args.regression)
    tile = read_tile(args.s2, args.dem, args.lulc, time=acquired, boa_add_offset=args.boa_add_offset)
    gfs = _gfs_series(args.gfs, time, tile) if args.gfs else None
    config = GenerationConfig(members=args.members, steps=args.steps, seed=args.seed)
    provenance = {
        "input_s2": str(args.s2), "input_s2_acquired": str(tile.acquired) + "Z",
        "input_dem": str(args.dem or ""), "input_lulc": str(args.lulc or ""), "input_gfs": args.gfs or "",
        "input_gfs_leads_h": "" if gfs is None else " ".join(str(int(x)) for x in gfs.lead),
        **tile.filled,
    }
    ds = generator.tile(tile, time, gfs, config, args.tim, provenance)
    with atomic_file(args.out) as tmp:
        if args.out.suffix == ".nc":
            ds.to_netcdf(tmp)
        else:
            _write_geotiff(ds, tmp)
    mean = float(ds["t2m_mean"].mean())
    print(f"wrote {args.out}: {args.members} members, tile mean {mean:.2f} K, mean spread {float(ds['t2m_spread'].mean()):.2f} K")
    return EXIT_OK


def _run_terramind(args: argparse.Namespace, time: np.datetime64, acquired: np.datetime64 | None) -> int:
    """`generate` on a checkpoint of `train --backbone terramind-*` (`tm_weather.terramind.generate`)."""
    from tm_weather.model.data import Tokenizers
    from tm_weather.model.generator import check_tokenizers
    from tm_weather.terramind.generate import generate_tile, load_for_generation
    from tm_weather.tiles import read_tile
    from tm_weather.tokenizers.registry import sha256

    if args.tim:
        raise InputError("--tim", "option", "a checkpoint of the project's own transformer (TerraMind-backbone "
                         "checkpoints generate no LULC)", str(args.checkpoint))
    model, tm_tokenizers, meta = load_for_generation(args.checkpoint)
    weather = Tokenizers.load(*[args.tokenizers] if args.tokenizers else [])
    check_tokenizers(args.checkpoint, meta, weather)
    tile = read_tile(args.s2, args.dem, args.lulc, time=acquired, boa_add_offset=args.boa_add_offset)
    gfs = _gfs_series(args.gfs, time, tile) if args.gfs else None
    provenance = {"checkpoint": str(args.checkpoint), "checkpoint_sha256": sha256(args.checkpoint),
                  "terramind_weights": meta.get("terramind_weights", ""), "input_s2": str(args.s2),
                  "input_s2_acquired": str(tile.acquired) + "Z", "input_dem": str(args.dem or ""),
                  "input_lulc": str(args.lulc or ""), "input_gfs": args.gfs or "", **tile.filled}
    ds = generate_tile(model, tm_tokenizers, weather, tile, time, gfs, args.members, args.steps, args.seed, provenance)
    with atomic_file(args.out) as tmp:
        if args.out.suffix == ".nc":
            ds.to_netcdf(tmp)
        else:
            _write_geotiff(ds, tmp)
    print(f"wrote {args.out}: {args.members} members, tile mean {float(ds['t2m_mean'].mean()):.2f} K "
          f"(TerraMind backbone {ds.attrs['backbone']}, weights: {ds.attrs['terramind_weights']})")
    return EXIT_OK


def _gfs_series(spec: str, time: np.datetime64, tile):
    """The `tiles.GFSInput` over `time`'s UTC day at the tile centre (lapse-rate corrected to the tile's DEM when
    it has one: `tiles.gfs_series`), from the catalog source `spec` = CATALOG[:SOURCE]."""
    from tm_weather.catalog import load_catalog
    from tm_weather.tiles import gfs_series
    from tm_weather.sources import open_source

    path, _, name = spec.partition(":")
    catalog = load_catalog(path)
    name = name or "gfs"
    if name not in catalog.sources or catalog.sources[name].kind != "gfs":
        raise InputError(path, f"sources.{name}", "a GFS forecast source (kind: gfs)")
    source = open_source(name, catalog.sources[name], catalog)
    return gfs_series(source, {}, time.astype("datetime64[D]"), tile)


def _write_geotiff(ds, path: Path) -> None:
    """Bands: member 1..N, then the ensemble mean and spread (K), each band described."""
    import xarray as xr

    bands = xr.concat([ds["t2m"], ds["t2m_mean"].expand_dims(member=[-1]), ds["t2m_spread"].expand_dims(member=[-2])], "member")
    bands = bands.rename(member="band").assign_coords(band=np.arange(1, bands.sizes["member"] + 1))
    tags = {"units": "K", **{k: str(v) for k, v in ds.attrs.items()}}
    names = [f"t2m member {i}" for i in range(ds.sizes["member"])] + ["t2m ensemble mean", "t2m ensemble spread"]
    bands.attrs = {"long_name": tuple(names)}  # rioxarray writes these as the band descriptions
    bands.rio.write_crs(ds.rio.crs).rio.to_raster(path, tags=tags)
