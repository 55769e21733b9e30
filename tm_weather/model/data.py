"""From files to the transformer's tokens: a tile's inputs, and a catalog split's samples.

The path is the project's own: the tile, its truth and its GFS series as arrays (`tm_weather.tiles`: Sentinel-2,
DEM and LULC GeoTIFFs, truth through the catalog's analysis source for the tile regridded onto the tile with
`tm_weather.series.regrid_to_tile`, GFS through the catalog's `gfs` forecast source at the tile centre), then the
FSQ tokenizers (`tm_weather.tokenizers`, one checkpoint per tokenizer in the top-level `tokenizers/`).

A sample is one tile at one valid hour `t`:
- s2l2a, dem, lulc, ndvi: the tile's images (NDVI from the S-2 reflectance), 196 tokens each;
- t2m_field: the truth at `t` on the tile minus its tile mean (`tm_weather.tokenizers.pattern`), 196 tokens;
- t2m_hourly: the tile-mean truth over the 24 hours of `t`'s UTC day, 2 tokens;
- t2m_residual: t2m_hourly's profile minus the regression network's profile given GFS
  (`tm_weather.model.anomaly`: GFS + the learned level correction), 4 tokens, when there is GFS;
- t2m_residual_clim: the same minus the regression's profile without GFS (the climate + its learned level),
  4 tokens, always (the same `t2m_residual` tokenizer);
- gfs: GFS at the tile centre over the same 24 hours, every hour from the latest run at most 12 h ahead
  (`tiles.gfs_series`), lapse-rate corrected from GFS's orography to the tile's mean DEM height, 2 tokens;
- coords: the tile centre on the 0.25 deg grid; time: hour of day and day of year of `t`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.lexicon import check_kelvin_range
from tm_weather.metrics import block_means
from tm_weather.model.transformer import GRID, HOURS, MODALITIES
from tm_weather.tiles import Tile, gfs_or_none, gfs_source, read_tile, split_window, truth_source, whole_days
from tm_weather.tokenizers import coords as coord_tokens
from tm_weather.tokenizers.image_data import ndvi
from tm_weather.tokenizers.pattern import pattern
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, load_tokenizer, sha256

log = logging.getLogger(__name__)

#: Model modality -> the tokenizer checkpoint (`tokenizers/<name>.safetensors`) that makes its tokens.
TOKENIZER_OF = {
    "s2l2a": "s2l2a", "dem": "dem", "lulc": "lulc", "ndvi": "ndvi",
    "t2m_field": "t2m_pattern", "t2m_hourly": "t2m_hourly", "t2m_residual": "t2m_residual",
    "t2m_residual_clim": "t2m_residual", "gfs": "t2m_hourly",
}


class Tokenizers:
    """The FSQ tokenizers the model's tokens come from: `models[name]` (eval mode), `hashes[name]` (sha256)."""

    def __init__(self, models: dict, hashes: dict[str, str]):
        self.models, self.hashes = models, hashes

    @classmethod
    def load(cls, folder: Path = CHECKPOINT_DIR) -> Tokenizers:
        """Each tokenizer of `TOKENIZER_OF` from `folder/<name>.safetensors` (default: the shipped `tokenizers/`)."""
        models, hashes = {}, {}
        for name in sorted(set(TOKENIZER_OF.values())):
            path = Path(folder) / f"{name}.safetensors"
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


# ---------------------------------------------------------------------------------------------------------
# a catalog split as samples


#: `Samples`' per-sample arrays besides the tokens, in field order.
ARRAYS = ("truth", "profile", "gfs", "lead", "base", "base_clim", "hour", "tile", "valid")


@dataclass
class Samples:
    """`n` samples: `tokens[name]` `(n, length)` int64 and `present[name]` `(n,)` bool for every modality;
    `truth` `(n, 14, 14)` K (16-px block means of the truth field), `profile` `(n, 24)` K (tile-mean truth over
    the valid day), `gfs` `(n, 24)` K (the GFS input; NaN where missing), `lead` `(n, 24)` h (its runs' leads),
    `base` and `base_clim` `(n, 24)` K (the regression's profile with GFS, NaN where missing, and without),
    `hour` `(n,)` int (valid hour of day), `tile` `(n,)` int (index into `tiles`), `valid` `(n,)` int64 (hours
    since 1970)."""

    tokens: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]
    truth: torch.Tensor
    profile: torch.Tensor
    gfs: torch.Tensor
    lead: torch.Tensor
    base: torch.Tensor
    base_clim: torch.Tensor
    hour: torch.Tensor
    tile: torch.Tensor
    valid: torch.Tensor
    tiles: list[str]

    def __post_init__(self):
        """Every array's dtype and shape against `n` = len(hour), and the truth and profiles in kelvin: checked
        wherever samples are made (`catalog_samples`, `select`, `load`)."""
        n = len(self.hour)
        expected = {"truth": (torch.float32, (n, GRID, GRID))}
        expected |= {k: (torch.float32, (n, HOURS)) for k in ("profile", "gfs", "lead", "base", "base_clim")}
        expected |= {k: (torch.int64, (n,)) for k in ("hour", "tile", "valid")}
        arrays = {k: getattr(self, k) for k in ARRAYS}
        for m in MODALITIES:
            expected |= {f"tokens.{m.name}": (torch.int64, (n, m.length)), f"present.{m.name}": (torch.bool, (n,))}
            arrays |= {f"tokens.{m.name}": self.tokens.get(m.name), f"present.{m.name}": self.present.get(m.name)}
        for k, (dtype, shape) in expected.items():
            a = arrays[k]
            if a is None or a.dtype != dtype or tuple(a.shape) != shape:
                found = "none" if a is None else f"{a.dtype} {tuple(a.shape)}"
                raise ValueError(f"Samples: {k} must be {dtype} {shape}, got {found}")
        if n and not 0 <= int(self.tile.min()) <= int(self.tile.max()) < len(self.tiles):
            raise ValueError(f"Samples: tile indices must index its {len(self.tiles)} tiles")
        check_kelvin_range(self.truth.numpy(), "Samples", "truth")
        check_kelvin_range(self.profile.numpy(), "Samples", "profile")

    def __len__(self) -> int:
        return len(self.hour)

    def select(self, index: torch.Tensor) -> Samples:
        pick = lambda d: {k: v[index] for k, v in d.items()}  # noqa: E731
        return Samples(pick(self.tokens), pick(self.present), *(getattr(self, k)[index] for k in ARRAYS), self.tiles)

    def save(self, path: Path) -> None:
        from tm_weather.checkpoint_io import save_safetensors

        tensors = {f"tokens.{k}": v.contiguous() for k, v in self.tokens.items()}
        tensors |= {f"present.{k}": v.contiguous() for k, v in self.present.items()}
        tensors |= {k: getattr(self, k).contiguous() for k in ARRAYS}
        save_safetensors(tensors, path, {"tiles": ",".join(self.tiles)})

    @classmethod
    def load(cls, path: Path) -> Samples:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
            tiles = f.metadata()["tiles"].split(",")
        tokens = {m.name: t[f"tokens.{m.name}"] for m in MODALITIES}
        present = {m.name: t[f"present.{m.name}"] for m in MODALITIES}
        return cls(tokens, present, *(t[k] for k in ARRAYS), tiles)


def catalog_samples(catalog, split: str, tokenizers: Tokenizers, regression=None, progress=None) -> Samples:
    """Every (tile, valid hour) of `split`: the split's tiles at every whole UTC day of truth in its dates, with the
    residuals of `regression` (`anomaly.AnomalyModel`) as the profile targets (None: no residuals, `base` and
    `base_clim` NaN; for a model that does not sample them, as the TerraMind backbone's)."""
    from tm_weather.series import regrid_to_tile

    tiles, lo, hi = split_window(catalog, split)
    gfs = gfs_source(catalog)
    gfs_days: dict = {}  # day -> the GFS fields of its runs, read once for all tiles

    rows: dict[str, list] = {k: [] for k in ARRAYS}
    tokens: dict[str, list] = {m.name: [] for m in MODALITIES}
    encode = lambda name, series: tokenizers.encode(name, series.reshape(1, 1, 24))[0]  # noqa: E731
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
            series = gfs_or_none(gfs, gfs_days, day, tile)
            nan = torch.full((24,), torch.nan)
            day_tokens, values, lead, base, base_clim = {"t2m_hourly": encode("t2m_hourly", profile)}, nan, torch.zeros(24), nan, nan
            if regression is not None:
                base_clim = regression.profile(tile, hours, None)
                day_tokens["t2m_residual_clim"] = encode("t2m_residual", profile - base_clim)
            if series is not None:
                values, lead = torch.from_numpy(series.values), torch.from_numpy(series.lead.astype(np.float32))
                day_tokens["gfs"] = encode("gfs", values)
            if series is not None and regression is not None:
                base = regression.profile(tile, hours, series)
                day_tokens["t2m_residual"] = encode("t2m_residual", profile - base)
            for h in range(24):
                sample = {**static, **day_tokens, "t2m_field": field_tokens[h], "time": time_tokens(hours[h])}
                for m in MODALITIES:
                    tokens[m.name].append(sample.get(m.name))
                row = {"truth": torch.from_numpy(block_means(field[h].numpy())), "profile": profile, "gfs": values, "lead": lead,
                       "base": base, "base_clim": base_clim, "hour": h, "tile": number,
                       "valid": int(hours[h].astype("datetime64[h]").astype(np.int64))}
                for k in ARRAYS:
                    rows[k].append(row[k])
        if progress:
            progress(f"{split}: tile {entry.name} ({number + 1}/{len(tiles)}), {len(rows['hour'])} samples")
    if not rows["hour"]:
        raise InputError(catalog.root / "catalog.yaml", f"splits.{split}", "whole UTC days of truth on its tiles", "none")
    present = {m.name: torch.tensor([t is not None for t in tokens[m.name]]) for m in MODALITIES}
    stacked = {m.name: torch.stack([t if t is not None else torch.zeros(m.length, dtype=torch.int64) for t in tokens[m.name]])
               for m in MODALITIES}
    arrays = [torch.tensor(rows[k]) if k in ("hour", "tile", "valid") else torch.stack(rows[k]) for k in ARRAYS]
    return Samples(stacked, present, *arrays, [t.name for t in tiles])
