"""From files to the transformer's tokens: a tile's inputs, and a catalog split's samples.

The path is the project's own: Sentinel-2, DEM and LULC GeoTIFFs through `tm_weather.sources.sentinel2`, truth
through the catalog's analysis source for the tile (`truth_<tile>`, else `truth`) regridded onto the tile with
`tm_weather.series.regrid_to_tile`, GFS through the catalog's `gfs` forecast source at the tile centre
(`tm_weather.series.extract_points`), then the FSQ tokenizers (`tm_weather.tokenizers`, checkpoints in the
top-level `tokenizers/`).

A sample is one tile at one valid hour `t`:
- s2l2a, dem, lulc, ndvi: the tile's images (NDVI from the S-2 reflectance), 196 tokens each;
- t2m_field: the truth at `t` on the tile minus its tile mean (`tm_weather.model.pattern`), 196 tokens;
- t2m_hourly: the tile-mean truth over the 24 hours of `t`'s UTC day, 2 tokens;
- t2m_residual: t2m_hourly's profile minus gfs's series (`tm_weather.model.residual`), 4 tokens, when there is GFS;
- gfs: GFS at the tile centre over the same 24 hours, from that day's 00Z run (leads 0-11) and 12Z run
  (leads 0-11): every hour the freshest run's analysis or forecast, at most 11 h ahead, lapse-rate corrected
  from GFS's orography to the tile's mean DEM height (`gfs_series`), 2 tokens;
- coords: the tile centre on the 0.25 deg grid; time: hour of day and day of year of `t`.
"""

from __future__ import annotations

import datetime as dt
import logging
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.model import CHECKPOINT_DIR as MODEL_CHECKPOINTS
from tm_weather.model.pattern import pattern
from tm_weather.model.transformer import GRID, HOURS, MODALITIES
from tm_weather.tokenizers import coords as coord_tokens
from tm_weather.tokenizers.image_data import ndvi
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, load_tokenizer, sha256

log = logging.getLogger(__name__)

SIZE = 224  # tile side, px
#: Model modality -> the tokenizer checkpoint (`tokenizers/<name>.safetensors`) that makes its tokens.
TOKENIZER_OF = {
    "s2l2a": "s2l2a", "dem": "dem", "lulc": "lulc", "ndvi": "ndvi",
    "t2m_field": "t2m_pattern", "t2m_hourly": "t2m_hourly", "t2m_residual": "t2m_residual", "gfs": "t2m_hourly",
}
#: (cycle hour, leads) giving the valid day's 24 hours: each hour from the latest run at or before it.
GFS_RUNS = ((0, range(0, 12)), (12, range(0, 12)))
#: The model's own tokenizers (the wide-range hourly T2M of `tm_weather.model.wide_tokenizers`, the GFS residual,
#: the field pattern), read before `tokenizers/`'s.
MODEL_TOKENIZERS = MODEL_CHECKPOINTS / "tokenizers"


class Tokenizers:
    """The FSQ tokenizers the model's tokens come from: `models[name]` (eval mode), `hashes[name]` (sha256)."""

    def __init__(self, models: dict, hashes: dict[str, str]):
        self.models, self.hashes = models, hashes

    @classmethod
    def load(cls, *folders: Path) -> Tokenizers:
        """Each tokenizer from the first of `folders` holding it (default: `MODEL_TOKENIZERS`, then `tokenizers/`)."""
        folders = folders or (MODEL_TOKENIZERS, CHECKPOINT_DIR)
        models, hashes = {}, {}
        for name in sorted(set(TOKENIZER_OF.values())):
            path = next((Path(f) / f"{name}.safetensors" for f in folders if (Path(f) / f"{name}.safetensors").exists()),
                        Path(folders[-1]) / f"{name}.safetensors")
            if not path.exists():
                raise InputError(path, "tokenizer checkpoint", f"a trained {name} tokenizer "
                                 f"(tm-weather tokenizers train --modality {name})", "no such file")
            models[name], _ = load_tokenizer(path)
            hashes[name] = sha256(path)
        return cls(models, hashes)

    @torch.no_grad()
    def encode(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """Physical values (images `(b, c, 224, 224)`, class maps `(b, 224, 224)`, series `(b, 1, 24)` K) ->
        tokens `(b, length)` int64, in batches of 8."""
        model = self.models[TOKENIZER_OF[modality]]
        return torch.cat([model.encode(part).reshape(len(part), -1) for part in x.split(8)])

    @torch.no_grad()
    def decode(self, modality: str, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens `(b, length)` -> images `(b, c, 224, 224)` / class maps / series `(b, 1, 24)`, in batches of 8."""
        model = self.models[TOKENIZER_OF[modality]]
        shape = (GRID, GRID) if modality in ("s2l2a", "dem", "lulc", "ndvi", "t2m_field") else (tokens.shape[1],)
        return torch.cat([model.decode(part.reshape(len(part), *shape)) for part in tokens.split(8)])


#: The least share of valid pixels a tile's S-2 image or DEM must have (S-2: not nodata in any band; DEM: finite,
#: not the file's nodata). Below it `read_tile` refuses the tile; above it the rest is filled (`_filled`).
MIN_VALID_SHARE = 0.5


@dataclass
class Tile:
    """A tile's inputs: reflectance `(12, 224, 224)`, elevation `(224, 224)` m and land cover `(224, 224)` int64
    0-8 (None when not given), its grid, centre (degrees) and acquisition time (UTC). Masked S-2 pixels and
    missing heights are filled with the mean of the valid ones (`_filled`); `filled` says how much, as the
    provenance attributes `input_s2_masked_share` and `input_dem_masked_share` (0..1)."""

    name: str
    reflectance: np.ndarray
    dem: np.ndarray | None
    lulc: np.ndarray | None
    grid: object
    lat: float
    lon: float
    acquired: np.datetime64
    filled: dict[str, str] = dataclasses.field(default_factory=dict)


def read_tile(s2: Path, dem: Path | None = None, lulc: Path | None = None, time=None, boa_add_offset=None,
              name: str | None = None) -> Tile:
    """Read a 224 x 224 Sentinel-2 L2A GeoTIFF and, if given, a DEM and a LULC GeoTIFF on its grid.

    Too few valid pixels in the S-2 image or the DEM (`MIN_VALID_SHARE`), or a centre off the Earth, raise
    `InputError`; missing values are never read as 0 reflectance or 0 m."""
    from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a

    tile = read_s2l2a(s2, time=time, boa_add_offset=boa_add_offset)
    if tile.grid.shape != (SIZE, SIZE):
        raise InputError(s2, "size", f"{SIZE} x {SIZE} pixels (TerraMind's tile: 14 x 14 patches of 16)", str(tile.grid.shape))
    reflectance, s2_share = _filled(tile.reflectance.values, ~tile.mask.values, s2, "pixels with data in every band")
    filled = {"input_s2_masked_share": f"{s2_share:.4f}"}
    height = None
    if dem:
        values = read_dem(dem, tile.grid).values
        height, dem_share = _filled(values, np.isfinite(values), dem, "finite heights (not the nodata value)")
        filled["input_dem_masked_share"] = f"{dem_share:.4f}"
    classes = read_lulc(lulc, tile.grid).values.astype(np.int64) - 1 if lulc else None
    if classes is not None and (classes.min() < 0 or classes.max() > 8):
        raise InputError(lulc, "classes", "TerraMind's LULC classes 1..9", f"{classes.min() + 1}..{classes.max() + 1}")
    lon, lat = tile.grid.centre_lonlat()
    if not (np.isfinite(lon) and -90 <= lat <= 90):
        raise InputError(s2, "centre", "a place on the Earth (latitude -90..90) from the tile's CRS and transform",
                         f"lon {lon}, lat {lat}")
    return Tile(name or Path(s2).stem, reflectance, height, classes, tile.grid, lat, lon, tile.time, filled)


def _filled(values: np.ndarray, valid: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, float]:
    """`values` `(..., y, x)` float32 with the pixels where `valid` `(y, x)` is False set to the mean of the valid
    ones (per leading index), and the share filled (0..1); `InputError` below `MIN_VALID_SHARE` valid."""
    share = float(valid.mean())
    if share < MIN_VALID_SHARE:
        raise InputError(path, "valid pixels", f"at least {MIN_VALID_SHARE:.0%} {what}", f"{share:.1%}")
    if share == 1:
        return values.astype(np.float32), 0.0
    means = values[..., valid].mean(axis=-1, dtype=np.float64)
    out = np.where(valid, values, means[..., None, None]).astype(np.float32)
    log.warning("%s: %.1f%% of the pixels lack %s; filled with the mean of the others", path, 100 * (1 - share), what)
    return out, 1 - share


def tile_tokens(tile: Tile, tokenizers: Tokenizers) -> dict[str, torch.Tensor]:
    """The tile's image tokens `{name: (196,)}` (s2l2a, ndvi, and dem / lulc when the tile has them) and coords."""
    refl = torch.from_numpy(tile.reflectance)[None]
    out = {
        "s2l2a": tokenizers.encode("s2l2a", refl)[0],
        "ndvi": tokenizers.encode("ndvi", torch.from_numpy(ndvi(tile.reflectance))[None, None])[0],
        "coords": coord_tokens.encode(torch.tensor([tile.lat]), torch.tensor([tile.lon]))[0],
    }
    if tile.dem is not None:
        out["dem"] = tokenizers.encode("dem", torch.from_numpy(tile.dem.astype(np.float32))[None, None])[0]
    if tile.lulc is not None:
        out["lulc"] = tokenizers.encode("lulc", torch.from_numpy(tile.lulc)[None])[0]
    return out


def time_tokens(t: np.datetime64) -> torch.Tensor:
    """Valid time -> `(2,)`: hour of day (0-23), and `HOURS` + day of year - 1 (0-365)."""
    t = np.datetime64(t, "h")
    hour = int((t - t.astype("datetime64[D]")) / np.timedelta64(1, "h"))
    doy = int((t.astype("datetime64[D]") - t.astype("datetime64[Y]")) / np.timedelta64(1, "D"))
    return torch.tensor([hour, HOURS + doy])


def gfs_runs(day: np.datetime64) -> np.ndarray:
    """Init times `(2,)` datetime64[ns] of the runs whose hours make up UTC `day` (`GFS_RUNS`)."""
    return np.array([np.datetime64(day, "h") + np.timedelta64(cycle, "h") for cycle, _ in GFS_RUNS], dtype="datetime64[ns]")


def gfs_day(runs, lat: list[float], lon: list[float], names: list[str]) -> np.ndarray:
    """The fields of `gfs_runs(day)` (t2m `(init_time, lead_time, y, x)`) -> T2M `(site, 24)` K over the day at
    the sites: the 00Z run's leads 0-11 then the 12Z run's leads 0-11."""
    from tm_weather.series import extract_points

    data = extract_points(runs, lat, lon, names).transpose("site", "init_time", "lead_time")
    hours = data["lead_time"].values / np.timedelta64(1, "h")
    parts = [data.values[:, i, np.isin(hours, list(leads))] for i, (_, leads) in enumerate(GFS_RUNS)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def gfs_series(source, cache: dict, day: np.datetime64, tile: Tile) -> np.ndarray:
    """The model's GFS input `(24,)` K over UTC `day` at the tile centre (`gfs_day`), brought from GFS's model
    orography to the tile's mean DEM height by the standard lapse rate when the tile has a DEM, as model output
    statistics and the GFS + lapse baseline do (-6.5 K/km; on the full world's test split this takes GFS at the
    valid hours from 1.13 to 1.06 K RMSE). `cache`: day -> the runs' T2M, (day, "orography") -> the 00Z run's
    orography (read only for a tile with a DEM), shared by the tiles of a split so each file is read once."""
    from tm_weather.series import extract_points
    from tm_weather.sources.gfs import LAPSE_RATE_K_PER_M

    runs = gfs_runs(day)
    if day not in cache:
        cache[day] = source(runs)
    series = gfs_day(cache[day], [tile.lat], [tile.lon], [tile.name])[0]
    if tile.dem is None:
        return series
    if (day, "orography") not in cache:
        cache[day, "orography"] = source.orography(runs[0])
    height = float(extract_points(cache[day, "orography"], [tile.lat], [tile.lon], [tile.name]).values[0])
    return (series + LAPSE_RATE_K_PER_M * (float(tile.dem.mean()) - height)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# a catalog split as samples


@dataclass
class Samples:
    """`n` samples: `tokens[name]` `(n, length)` int64 and `present[name]` `(n,)` bool for every modality;
    `truth` `(n, 14, 14)` K (16-px block means of the truth field), `profile` `(n, 24)` K (tile-mean truth over
    the valid day), `gfs` `(n, 24)` K (NaN where missing), `hour` `(n,)` int (valid hour of day), `tile`
    `(n,)` int (index into `tiles`), `valid` `(n,)` int64 (hours since 1970)."""

    tokens: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]
    truth: torch.Tensor
    profile: torch.Tensor
    gfs: torch.Tensor
    hour: torch.Tensor
    tile: torch.Tensor
    valid: torch.Tensor
    tiles: list[str]

    def __len__(self) -> int:
        return len(self.hour)

    def select(self, index: torch.Tensor) -> Samples:
        pick = lambda d: {k: v[index] for k, v in d.items()}  # noqa: E731
        return Samples(pick(self.tokens), pick(self.present), self.truth[index], self.profile[index],
                       self.gfs[index], self.hour[index], self.tile[index], self.valid[index], self.tiles)

    def save(self, path: Path) -> None:
        from tm_weather.checkpoint_io import save_safetensors

        tensors = {f"tokens.{k}": v.contiguous() for k, v in self.tokens.items()}
        tensors |= {f"present.{k}": v.contiguous() for k, v in self.present.items()}
        tensors |= {k: getattr(self, k).contiguous() for k in ("truth", "profile", "gfs", "hour", "tile", "valid")}
        save_safetensors(tensors, path, {"tiles": ",".join(self.tiles)})

    @classmethod
    def load(cls, path: Path) -> Samples:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
            tiles = f.metadata()["tiles"].split(",")
        tokens = {m.name: t[f"tokens.{m.name}"] for m in MODALITIES}
        present = {m.name: t[f"present.{m.name}"] for m in MODALITIES}
        return cls(tokens, present, *(t[k] for k in ("truth", "profile", "gfs", "hour", "tile", "valid")), tiles)


def block_means(field: torch.Tensor) -> torch.Tensor:
    """`(b, 224, 224)` -> 16-px block means `(b, 14, 14)`."""
    return torch.nn.functional.avg_pool2d(field[:, None], SIZE // GRID)[:, 0]


def catalog_samples(catalog, split: str, tokenizers: Tokenizers, progress=None) -> Samples:
    """Every (tile, valid hour) of `split`: the split's tiles at every whole UTC day of truth in its dates."""
    from tm_weather.series import regrid_to_tile
    from tm_weather.sources import open_source

    tiles, lo, hi = split_window(catalog, split)
    gfs = open_source("gfs", catalog.sources["gfs"], catalog) if "gfs" in catalog.sources else None
    gfs_days: dict = {}  # day -> the GFS fields of its two runs, read once for all tiles

    rows: dict[str, list] = {k: [] for k in ("truth", "profile", "gfs", "hour", "tile", "valid")}
    tokens: dict[str, list] = {m.name: [] for m in MODALITIES}
    for number, entry in enumerate(tiles):
        tile = read_tile(catalog.path(entry.s2), entry.dem and catalog.path(entry.dem),
                         entry.lulc and catalog.path(entry.lulc), entry.time and np.datetime64(entry.time.replace(tzinfo=None), "ns"),
                         entry.boa_add_offset, entry.name)
        static = tile_tokens(tile, tokenizers)
        truth = truth_source(catalog, entry.name)
        for day in whole_days(truth, lo, hi):
            hours = np.datetime64(day, "ns") + np.arange(24) * np.timedelta64(1, "h")
            field = regrid_to_tile(truth(hours), tile.grid.crs, tile.grid.transform, tile.grid.shape)
            field = torch.from_numpy(np.ascontiguousarray(field.transpose("time", "y", "x").values, dtype=np.float32))
            field_tokens = tokenizers.encode("t2m_field", pattern(field)[:, None])
            profile = field.mean(dim=(1, 2))
            profile_tokens = tokenizers.encode("t2m_hourly", profile[None, None])[0]
            series = _gfs_or_nan(gfs, gfs_days, day, tile)
            with_gfs = {}
            if np.isfinite(series).all():
                with_gfs = {"gfs": tokenizers.encode("gfs", torch.from_numpy(series)[None, None])[0],
                            "t2m_residual": tokenizers.encode("t2m_residual", (profile - torch.from_numpy(series))[None, None])[0]}
            for h in range(24):
                sample = {**static, "t2m_field": field_tokens[h], "t2m_hourly": profile_tokens, "time": time_tokens(hours[h]),
                          **with_gfs}
                for m in MODALITIES:
                    tokens[m.name].append(sample.get(m.name))
                rows["truth"].append(block_means(field[h : h + 1])[0])
                rows["profile"].append(profile)
                rows["gfs"].append(torch.from_numpy(series))
                rows["hour"].append(h)
                rows["tile"].append(number)
                rows["valid"].append(int(hours[h].astype("datetime64[h]").astype(np.int64)))
        if progress:
            progress(f"{split}: tile {entry.name} ({number + 1}/{len(tiles)}), {len(rows['hour'])} samples")
    if not rows["hour"]:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "whole UTC days of truth on its tiles", "none")
    present = {m.name: torch.tensor([t is not None for t in tokens[m.name]]) for m in MODALITIES}
    stacked = {m.name: torch.stack([t if t is not None else torch.zeros(m.length, dtype=torch.int64) for t in tokens[m.name]])
               for m in MODALITIES}
    return Samples(stacked, present, torch.stack(rows["truth"]), torch.stack(rows["profile"]), torch.stack(rows["gfs"]),
                   torch.tensor(rows["hour"]), torch.tensor(rows["tile"]), torch.tensor(rows["valid"]), [t.name for t in tiles])


def split_window(catalog, split: str) -> tuple[list, np.datetime64, np.datetime64]:
    """(the split's catalog tile entries, its first and last instant) from `catalog.splits[split]`."""
    if split not in catalog.splits:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "the split", "none")
    part = catalog.splits[split]
    names = set(part.tiles)
    lo = np.datetime64(part.start or dt.date(1900, 1, 1), "ns")
    hi = np.datetime64(part.end or dt.date(2200, 1, 1), "ns") + np.timedelta64(1, "D") - np.timedelta64(1, "ns")
    return [t for t in catalog.tiles if t.name in names], lo, hi


def whole_days(truth, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    """The UTC days `(n,)` datetime64[D] on which source `truth` has all 24 hours within [lo, hi]."""
    days, counts = np.unique(truth.times(lo, hi).astype("datetime64[D]"), return_counts=True)
    return days[counts == 24]


def truth_source(catalog, tile: str):
    """The catalog's analysis source for `tile`: `truth_<tile>`, else `truth`."""
    from tm_weather.sources import open_source

    name = f"truth_{tile}" if f"truth_{tile}" in catalog.sources else "truth"
    if name not in catalog.sources:
        raise InputError(catalog.root / "catalog.yaml", "sources", f"a truth source '{name}' for tile {tile}")
    return open_source(name, catalog.sources[name], catalog)


def _gfs_or_nan(source, cache: dict, day: np.datetime64, tile: Tile) -> np.ndarray:
    """`gfs_series` `(24,)` K, NaN when there is no GFS source or its runs are missing."""
    if source is None:
        return np.full(24, np.nan, np.float32)
    try:
        return gfs_series(source, cache, day, tile)
    except InputError as e:
        log.warning("no GFS for %s on %s: %s", tile.name, day, e)
        return np.full(24, np.nan, np.float32)
