"""`tm-weather generate`: T2M over an area of a Sentinel-2 product (or one tile's members and hourly profile), as an
ensemble, to netCDF or GeoTIFF. It parses the arguments and calls `tm_weather.api`."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tm_weather.area import DEFAULT_OVERLAP, write_field
from tm_weather.commands import bounded_int
from tm_weather.errors import EXIT_OK, InputError
from tm_weather.model import DEFAULT_CHECKPOINT, MAX_MEMBERS, MAX_STEPS
from tm_weather.outputs import atomic_file, check_output
from tm_weather.times import utc_time


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate 2 m temperature over an area of a Sentinel-2 product (ensemble, netCDF or GeoTIFF)",
        description="Generate the 2 m temperature field at --time over an area of a Sentinel-2 L2A product (a SAFE "
        "folder, a STAC item or a GeoTIFF of any size) as --members ensemble members, conditioned on the image, its "
        "place and the time, and optionally on a DEM, a land-cover map and the GFS forecast (then the level is GFS "
        "plus a generated correction, as model output statistics). The area is cut into 224 x 224 px tiles that "
        "overlap and are blended into one field: ensemble mean, spread and quantiles (members with --save-members), "
        "NaN where the product is cloud, shadow or nodata. A 224 x 224 GeoTIFF without --bbox, --aoi, --quantiles "
        "or --save-members gives the one-tile output: every member and the tile's hourly profile over the UTC day.",
    )
    p.add_argument("--s2", required=True, help="Sentinel-2 L2A product: a SAFE folder, a STAC item (JSON path or URL; "
                   "Planetary Computer or Earth Search asset names), or a GeoTIFF (12 bands B01..B12, DN) of any size")
    p.add_argument("--time", required=True, help="valid time, ISO 8601 UTC (e.g. 2023-11-14T10:00)")
    p.add_argument("--acquired", help="the product's acquisition time, ISO 8601 UTC, when neither the product's "
                   "metadata, the GeoTIFF nor a sibling S2RGB/NDVI/LULC file has a datetime tag")
    area = p.add_mutually_exclusive_group()
    area.add_argument("--bbox", type=_bbox, metavar="MINLON,MINLAT,MAXLON,MAXLAT",
                      help="the area, degrees (default: the whole scene); write --bbox=-70.5,... when it starts with a minus")
    area.add_argument("--aoi", type=Path, metavar="GEOJSON", help="the area as a GeoJSON polygon file (lon/lat); "
                      "pixels outside the polygon are NaN")
    p.add_argument("--dem", type=Path, help="elevation raster (m) on any grid and CRS covering the area (reprojected)")
    p.add_argument("--lulc", type=Path, help="land-cover raster (TerraMind classes 1-9) on any grid and CRS covering "
                   "the area (reprojected, nearest)")
    p.add_argument("--gfs", metavar="auto|CATALOG[:SOURCE]", help="GFS forecast: each hour of the valid day from the "
                   "latest run at most 12 h ahead; 'auto' fetches those runs through Herbie (00, 06, 12 and 18Z; only "
                   "the TMP:2 m above ground messages, --gfs-cache first, so it works offline from the cache); else a "
                   "catalog whose GFS source (default name: gfs) gives them. Taken at each tile's centre; with --dem, brought from GFS's orography to the tile's "
                   "mean height at -6.5 K/km, as the model was trained (give both)")
    p.add_argument("--gfs-cache", type=Path, help="Herbie's cache folder for --gfs auto (default: ~/.cache/tm-weather/herbie)")
    p.add_argument("--members", type=bounded_int(1, MAX_MEMBERS), default=8,
                   help=f"ensemble members, 1 to {MAX_MEMBERS} (one batch per tile; default: 8)")
    p.add_argument("--quantiles", type=float, nargs="+", metavar="Q",
                   help="ensemble quantiles to write, 0..1 (default: 0.1 0.5 0.9)")
    p.add_argument("--save-members", action="store_true", help="also write every member (blended across tiles)")
    p.add_argument("--overlap", type=bounded_int(0, 223), default=DEFAULT_OVERLAP,
                   help="px shared by neighbouring tiles, at least (default: %(default)s)")
    p.add_argument("--tim", action="store_true", help="Thinking-in-Modalities: generate LULC and NDVI first, feed them back")
    p.add_argument("--seed", type=bounded_int(0, 2**63 - 1), default=0,
                   help="random seed, 0 to 2^63-1 (same seed, same output)")
    p.add_argument("--steps", type=bounded_int(1, MAX_STEPS), default=8,
                   help=f"decoding steps for the field, 1 to {MAX_STEPS} (default: 8)")
    p.add_argument("--boa-add-offset", type=int, choices=(0, -1000), help="S-2 BOA_ADD_OFFSET in DN, if the product's "
                   "metadata lacks it")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                   help="transformer checkpoint (default: %(default)s)")
    p.add_argument("--regression", type=Path, help="regression network (tm_weather/model/anomaly.py; default: the one "
                   "the checkpoint was trained with, beside it; its sha256 must match)")
    p.add_argument("--tokenizers", type=Path, help="folder of tokenizer checkpoints (default: the shipped tokenizers/)")
    p.add_argument("--out", type=Path, required=True, help="output file: .nc (CF netCDF) or .tif (GeoTIFF; a "
                   "Cloud-Optimized GeoTIFF for an area)")
    p.set_defaults(func=run)


def _bbox(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected MINLON,MINLAT,MAXLON,MAXLAT, got {text!r}") from e
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 numbers MINLON,MINLAT,MAXLON,MAXLAT, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from tm_weather import api

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
    one_tile = (args.bbox is None and args.aoi is None and args.quantiles is None and not args.save_members
                and api.is_one_tile(args.s2))
    common = dict(dem=args.dem, lulc=args.lulc, gfs=args.gfs, gfs_cache=args.gfs_cache, members=args.members,
                  steps=args.steps, seed=args.seed, tim=args.tim, acquired=acquired, boa_add_offset=args.boa_add_offset,
                  checkpoint=args.checkpoint, regression=args.regression, tokenizers=args.tokenizers)
    if one_tile:
        ds = api.generate_one_tile(Path(args.s2), time, **common)
        writer = ds.to_netcdf if args.out.suffix == ".nc" else lambda tmp: _write_geotiff(ds, tmp)
    else:
        quantiles = api.DEFAULT_QUANTILES if args.quantiles is None else args.quantiles
        ds = api.generate(args.s2, time, bbox=args.bbox, aoi=args.aoi, quantiles=quantiles,
                          save_members=args.save_members, overlap=args.overlap, progress=True, **common)
        writer = lambda tmp: write_field(ds, tmp)  # noqa: E731
    with atomic_file(args.out) as tmp:
        writer(tmp)
    print(f"wrote {args.out}: {args.members} members, {ds.sizes['y']} x {ds.sizes['x']} px, mean "
          f"{float(ds['t2m_mean'].mean()):.2f} K, mean spread {float(ds['t2m_spread'].mean()):.2f} K")
    return EXIT_OK


def _run_terramind(args: argparse.Namespace, time: np.datetime64, acquired: np.datetime64 | None) -> int:
    """`generate` on a checkpoint of `train --backbone terramind-*` (`tm_weather.terramind.generate`): one 224 x
    224 GeoTIFF tile (areas and products are the project's own generator's)."""
    from tm_weather import api
    from tm_weather.model.data import Tokenizers
    from tm_weather.model.generator import check_tokenizers
    from tm_weather.terramind.generate import generate_tile, load_for_generation
    from tm_weather.tiles import gfs_series, read_tile
    from tm_weather.tokenizers.registry import sha256

    if args.tim:
        raise InputError("--tim", "option", "a checkpoint of the project's own transformer (TerraMind-backbone "
                         "checkpoints generate no LULC)", str(args.checkpoint))
    model, tm_tokenizers, meta = load_for_generation(args.checkpoint)
    weather = Tokenizers.load(*[args.tokenizers] if args.tokenizers else [])
    check_tokenizers(args.checkpoint, meta, weather)
    tile = read_tile(Path(args.s2), args.dem, args.lulc, time=acquired, boa_add_offset=args.boa_add_offset)
    gfs = None
    if args.gfs:
        gfs = gfs_series(api.gfs_source(args.gfs, args.gfs_cache), {}, time.astype("datetime64[D]"), tile).values
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


def _write_geotiff(ds, path: Path) -> None:
    """Bands: member 1..N, then the ensemble mean and spread (K), each band described."""
    import xarray as xr

    bands = xr.concat([ds["t2m"], ds["t2m_mean"].expand_dims(member=[-1]), ds["t2m_spread"].expand_dims(member=[-2])], "member")
    bands = bands.rename(member="band").assign_coords(band=np.arange(1, bands.sizes["member"] + 1))
    tags = {"units": "K", **{k: str(v) for k, v in ds.attrs.items()}}
    names = [f"t2m member {i}" for i in range(ds.sizes["member"])] + ["t2m ensemble mean", "t2m ensemble spread"]
    bands.attrs = {"long_name": tuple(names)}  # rioxarray writes these as the band descriptions
    bands.rio.write_crs(ds.rio.crs).rio.to_raster(path, tags=tags)
