"""Generation on a TerraMind-backbone checkpoint (`tm-weather generate --checkpoint` on one): T2M on a tile, as an
ensemble.

The tile is tokenized by TerraMind's tokenizers (those the checkpoint was trained with: random from the model's
seed, or the files its metadata names), encoded once by TerraMind's encoder with coords, time and (with --gfs) GFS,
and the targets are decoded MaskGIT-style (`model.generate.unmasked_after`'s cosine schedule): each step samples
every masked token's FSQ digits and commits the most confident. The profile is the decoded absolute t2m_hourly
(GFS, with --gfs, is an input), the field the decoded t2m_field pattern on the profile's level at the valid hour.
The regression network (`model.anomaly`: the project's generator is its mean + sampled residuals) and `--tim`
belong to the project's own transformer and are not used here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tm_weather.terramind.model import MODALITIES, MODALITY_ID, WeatherTerraMind, fsq_tokens
from tm_weather.terramind.tokenizers import TerraMindTokenizers


@torch.no_grad()
def generate_tokens(model: WeatherTerraMind, images: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor],
                    targets: tuple[str, ...], members: int, steps: int, seed: int) -> dict[str, torch.Tensor]:
    """Conditions (`{name: (length,)}`, one sample) -> `{target: (members, length)}` generated tokens."""
    from tm_weather.model.generate import unmasked_after

    gen = torch.Generator().manual_seed(seed)
    memory = model.encode({k: v[None] for k, v in images.items()}, {k: v[None] for k, v in inputs.items()})
    memory = memory.expand(members, -1, -1)
    tokens = {n: torch.zeros(members, MODALITIES[MODALITY_ID[n]].length, dtype=torch.int64) for n in targets}
    reveal = {n: torch.zeros_like(t, dtype=torch.bool) for n, t in tokens.items()}
    for step in range(steps):
        logits = model.decode(memory, tokens, reveal)
        for name, out in logits.items():
            levels = MODALITIES[MODALITY_ID[name]].levels
            logp = [p.log_softmax(-1) for p in out.split(levels, dim=-1)]
            digits = torch.stack([torch.multinomial(p.exp().flatten(0, 1), 1, generator=gen).view(p.shape[:2]) for p in logp], -1)
            score = sum(p.gather(-1, digits[..., j : j + 1])[..., 0] for j, p in enumerate(logp))
            score = torch.where(reveal[name], torch.inf, score)
            keep = unmasked_after(step, steps, tokens[name].shape[1])
            commit = torch.zeros_like(reveal[name])
            commit.scatter_(1, score.argsort(1, descending=True)[:, :keep], True)
            tokens[name] = torch.where(reveal[name], tokens[name], fsq_tokens(name, digits))
            reveal[name] = commit
    return tokens


def load_for_generation(checkpoint: Path) -> tuple[WeatherTerraMind, TerraMindTokenizers, dict[str, str]]:
    """A TerraMind-backbone checkpoint -> (model, the TerraMind tokenizers it was trained with, its metadata): the
    tokenizers are random from the model's seed, or loaded strictly from the files its metadata names."""
    from tm_weather.terramind.model import load
    from tm_weather.terramind.tokenizers import load_strict

    model, built, meta = load(checkpoint)
    sources = json.loads(meta.get("terramind_tokenizers", "{}"))
    for name, source in sources.items():
        if source != "random":
            load_strict(built[name], Path(source), f"TerraMind's {name} tokenizer")
    return model, TerraMindTokenizers({n: m.eval() for n, m in built.items()}, sources), meta


def generate_tile(model: WeatherTerraMind, tm_tokenizers: TerraMindTokenizers, weather, tile, time: np.datetime64,
                  gfs: np.ndarray | None, members: int, steps: int, seed: int, provenance: dict):
    """T2M on `tile` (`tiles.Tile`) at valid `time`, optionally with GFS `(24,)` K over its UTC day, from the
    TerraMind image tokens and the weather tokenizers `weather` (`model.data.Tokenizers`) -> `dataset`'s CF
    `xr.Dataset` with `members` members (`provenance` plus what it was conditioned on in its attributes)."""
    from tm_weather.model.data import time_tokens
    from tm_weather.tokenizers import coords

    images = tm_tokenizers.tile_tokens(tile)
    inputs = {"coords": coords.encode(torch.tensor([tile.lat]), torch.tensor([tile.lon]))[0], "time": time_tokens(time)}
    series = None if gfs is None else torch.as_tensor(gfs, dtype=torch.float32)
    if series is not None:
        inputs["gfs"] = weather.encode("gfs", series.reshape(1, 1, 24))[0]
    tokens = generate_tokens(model, images, inputs, ("t2m_field", "t2m_hourly"), members, steps, seed)
    hour = int((time - time.astype("datetime64[D]")) // np.timedelta64(1, "h"))
    profiles = weather.decode("t2m_hourly", tokens["t2m_hourly"])[:, 0]  # (members, 24) K
    pattern = weather.decode("t2m_field", tokens["t2m_field"])[:, 0]  # (members, 224, 224) K
    fields = (pattern - pattern.mean((1, 2), keepdim=True) + profiles[:, hour, None, None]).numpy()
    attrs = {**provenance, "backbone": model.config.backbone, "conditioned_on": " ".join(sorted([*images, *inputs])),
             "members": members, "seed": seed, "steps": steps}
    return dataset(fields, profiles.numpy(), tile, time, attrs)


def dataset(fields: np.ndarray, profiles: np.ndarray, tile, time: np.datetime64, provenance: dict):
    """Fields `(members, 224, 224)` K and profiles `(members, 24)` K -> CF `xr.Dataset` on the tile's grid:
    `t2m (member, y, x)`, `t2m_mean`, `t2m_spread (y, x)`, `t2m_hourly (member, hour)`, with the tile's CRS."""
    import xarray as xr

    import tm_weather

    x, y = tile.grid.centres()
    day = time.astype("datetime64[D]").astype("datetime64[ns]")
    k = {"units": "K", "standard_name": "air_temperature", "grid_mapping": "spatial_ref"}
    fields, profiles = fields.astype(np.float32), profiles.astype(np.float32)
    ds = xr.Dataset(
        {
            "t2m": (("member", "y", "x"), fields, {**k, "long_name": "2 m temperature, ensemble member"}),
            "t2m_mean": (("y", "x"), fields.mean(0), {**k, "long_name": "2 m temperature, ensemble mean"}),
            "t2m_spread": (("y", "x"), fields.std(0), {"units": "K", "grid_mapping": "spatial_ref",
                                                       "long_name": "2 m temperature, ensemble standard deviation"}),
            "t2m_hourly": (("member", "hour"), profiles, {"units": "K", "standard_name": "air_temperature",
                                                          "long_name": "tile-mean hourly 2 m temperature over the valid UTC day"}),
        },
        coords={"member": np.arange(len(fields)), "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
                "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
                "hour": ("hour", day + np.arange(24) * np.timedelta64(1, "h")), "time": time.astype("datetime64[ns]")},
    )
    ds = ds.rio.write_crs(tile.grid.crs).rio.write_transform(tile.grid.transform)
    for name in ds.data_vars:  # the CRS variable as a coordinate, so a plain `xr.open_dataset` keeps the CRS
        ds[name].encoding["coordinates"] = "spatial_ref"
    ds.attrs = {"Conventions": "CF-1.8", "source": f"tm-weather {tm_weather.__version__}", "valid_time": str(time) + "Z",
                "title": "2 m temperature generated from Sentinel-2 by the weather modalities on TerraMind's encoder",
                **{k: str(v) for k, v in provenance.items()}}
    return ds
