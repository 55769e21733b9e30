"""Shared helpers of the daily-job, scale-out and crash tests: the tiny benchmark world (built once per test
session) and small catalogs over it with their own store."""

from __future__ import annotations

from pathlib import Path

import yaml

from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS

#: A transformer checkpoint that does not exist: the daily job's generate stage is skipped ("no model").
NO_MODEL = Path("/nonexistent/transformer.safetensors")


def tiny_world(tmp_path_factory) -> Path:
    """The folder of the tiny world (seed 0), built on first use in the session's base temp folder."""
    folder = tmp_path_factory.getbasetemp() / "tiny-world"
    if not (folder / CATALOG).exists():
        build_world(folder, PRESETS["tiny"], 0)
    return folder


def small_catalog(world: Path, out: Path, sources: tuple[str, ...] = ("gfs", "gfs_analysis", "truth_tile02", "isd"),
                  cycles: list[int] | None = None, fxx: list[int] | None = None, tiles: tuple[str, ...] = ("tile02",),
                  priority: list[str] | None = None) -> Path:
    """A catalog at `out/catalog.yaml` over the world's files (absolute paths) with its store `out/store.zarr`:
    only `sources` and `tiles`, GFS limited to `cycles` and `fxx` when given, Herbie `priority` when given."""
    doc = yaml.safe_load((world / CATALOG).read_text())
    chosen = {}
    for name in sources:
        cfg = dict(doc["sources"][name])
        if "paths" in cfg:
            cfg["paths"] = [str(world / p) for p in cfg["paths"]]
        if cfg["kind"] in ("gfs", "gfs_analysis"):
            cfg.update({"cycles": cycles} if cycles is not None else {})
            cfg.update({"priority": priority} if priority is not None else {})
        if cfg["kind"] == "gfs" and fxx is not None:
            cfg["fxx"] = fxx
        chosen[name] = cfg
    entries = []
    for tile in doc["tiles"]:
        if tile["name"] in tiles:
            entries.append({**tile, **{k: str(world / tile[k]) for k in ("s2", "dem", "lulc", "scl") if k in tile}})
    out.mkdir(parents=True, exist_ok=True)
    catalog = {"store": str(out / "store.zarr"), "cache_dir": str(world / "cache"), "sources": chosen,
               "sites": doc["sites"], "tiles": entries}
    (out / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return out / "catalog.yaml"
