"""Generation: iterative masked decoding of target modalities from any subset of inputs, N members at once.

- Images (T2M field, LULC, NDVI): ROAR (random order, as TerraMind's default) or MaskGIT (most confident first)
  over `steps` steps; after step s of S, `ceil(L cos(pi/2 (s+1)/S))` tokens are still masked (MaskGIT's cosine
  schedule). At each step every still-masked position is predicted, tokens are sampled, and the chosen positions
  are committed and fed back into the decoder as revealed tokens; the encoder runs once per target modality.
- Series (hourly profile, GFS): autoregressive, one token per step left to right (TerraMind's scheme for sequences).
- Sampling: per FSQ digit, temperature, then top-k and top-p (nucleus) filtering.
- Members: one batched call; each member is a row of the batch with its own random draws. A `torch.Generator`
  seeded with `seed` makes the whole call deterministic.
- Each finished modality joins the encoder's inputs for the next one. Thinking-in-Modalities (TiM) generates
  LULC and NDVI first (those not given) and so feeds them back as inputs before the T2M field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

import tm_weather

from tm_weather.lexicon import check_kelvin_range
from tm_weather.model import MAX_MEMBERS
from tm_weather.model.transformer import MODALITIES, MODALITY_ID, MultiModalTransformer, Tokens

TIM_MODALITIES = ("lulc", "ndvi")


@dataclass(frozen=True)
class GenerationConfig:
    """Members, decoding steps for images, order ("roar" or "maskgit"), sampling settings and seed."""

    members: int = 8
    steps: int = 8
    order: str = "roar"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.order not in ("roar", "maskgit"):
            raise ValueError(f"order must be 'roar' or 'maskgit', got {self.order!r}")
        if not 1 <= self.members <= MAX_MEMBERS or self.steps < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"bad generation settings: {self}")


def as_tokens(conditions: dict[str, torch.Tensor]) -> Tokens:
    """`{name: (b, length)}` whole modalities -> `Tokens (b, sum of lengths)`, no padding."""
    parts = []
    for name, tok in conditions.items():
        m = MODALITIES[MODALITY_ID[name]]
        if tok.shape[-1] != m.length:
            raise ValueError(f"{name}: expected {m.length} tokens, got {tok.shape[-1]}")
        b = tok.shape[0]
        parts.append((tok, torch.full_like(tok, MODALITY_ID[name]), torch.arange(m.length).expand(b, -1),
                      torch.zeros_like(tok, dtype=torch.bool)))
    return Tokens(*(torch.cat(p, dim=1) for p in zip(*parts)))


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Logits `(k, n)` -> log-probabilities `(k, n)` after temperature, top-k and top-p (-inf where dropped)."""
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_logits.softmax(-1) >= top_p  # keep the smallest prefix reaching top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, -torch.inf)
    return logits.log_softmax(-1)


def sample_tokens(model: MultiModalTransformer, name: str, logits: torch.Tensor, config: GenerationConfig,
                  gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Head output `(k, sum(levels))` -> sampled tokens `(k,)` and their log-probability `(k,)` (sum over digits)."""
    m = MODALITIES[MODALITY_ID[name]]
    digits, logp = [], 0
    for part in logits.split(m.levels, dim=-1):
        lp = filter_logits(part, config.temperature, config.top_k, config.top_p)
        d = torch.multinomial(lp.exp(), 1, generator=gen)[:, 0]
        digits.append(d)
        logp = logp + lp.gather(1, d[:, None])[:, 0]
    return model.tokens_from_digits(m, torch.stack(digits, -1)), logp


def unmasked_after(step: int, steps: int, length: int) -> int:
    """Tokens committed after `step` (0-based) of `steps` on the cosine schedule (all of them after the last)."""
    if step + 1 >= steps:  # cos(pi / 2) is 6e-17, not 0: ceil would leave one token masked
        return length
    return length - math.ceil(length * math.cos(math.pi / 2 * (step + 1) / steps))


@torch.no_grad()
def generate(model: MultiModalTransformer, conditions: dict[str, torch.Tensor], targets: tuple[str, ...],
             config: GenerationConfig, tim: bool = False) -> dict[str, torch.Tensor]:
    """Generate `targets` from `conditions` (`{name: (length,)}` tokens of one sample, any non-empty subset of
    modalities) -> `{name: (members, length)}` tokens.

    The encoder runs once on the conditions, shared by all members; targets are decoded one after the other, each
    one's tokens revealed to the decoder for the next. `tim`: first generate the `TIM_MODALITIES` not among the
    conditions and add them to the encoder's inputs (per member) before the targets."""
    model.eval()
    gen = torch.Generator().manual_seed(config.seed)
    inputs = {k: v.reshape(1, -1) for k, v in conditions.items()}
    out = {}
    thoughts = tuple(name for name in TIM_MODALITIES if tim and name not in conditions)
    for stage in (thoughts, targets):
        if not stage:
            continue
        decoded = _decode_stage(model, inputs, stage, config, gen)
        out.update(decoded)
        inputs = {k: v.expand(config.members, -1) for k, v in inputs.items()} | decoded
    return out


def _decode_stage(model: MultiModalTransformer, inputs: dict[str, torch.Tensor], names: tuple[str, ...],
                  config: GenerationConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Decode the modalities `names` in order against one encoding of `inputs` (`{name: (1 or members, length)}`).

    The network runs on the model's device; sampling and bookkeeping stay on the CPU with the seeded
    generator, so a seed gives the same tokens on any device up to the network's rounding."""
    n = config.members
    device = next(model.parameters()).device
    source = as_tokens(inputs).to(device)
    memory = model.encode(source)
    query = as_tokens({name: torch.zeros(n, MODALITIES[MODALITY_ID[name]].length, dtype=torch.int64) for name in names})
    known = torch.zeros_like(query.pad)
    for name in names:
        m = MODALITIES[MODALITY_ID[name]]
        mine = query.modality[0] == MODALITY_ID[name]
        steps = config.steps if m.grid else m.length
        for step in range(steps):
            logits, where = model.decode(memory, source.pad, query.to(device), known.to(device))[name]
            logits, where = logits.float().cpu(), where.cpu()
            tokens, logp = sample_tokens(model, name, logits, config, gen)
            todo = (unmasked_after(step, steps, m.length) if m.grid else step + 1) - int(known[0, mine].sum())
            if m.grid and config.order == "roar":
                score = torch.rand(len(where), generator=gen)
            elif m.grid:
                score = logp
            else:  # series: left to right
                score = -query.position.flatten()[where].float()
            pick = _top_per_row(score, todo, n)
            query.token.view(-1)[where[pick]] = tokens[pick]
            known.view(-1)[where[pick]] = True
    return {name: query.token[:, query.modality[0] == MODALITY_ID[name]] for name in names}


def _top_per_row(score: torch.Tensor, k: int, rows: int) -> torch.Tensor:
    """`score (e,)` of entries grouped by row, `e / rows` per row (every row has the same positions left) ->
    bool `(e,)`: the `k` highest of each row."""
    grouped = score.view(rows, -1)
    best = grouped.topk(k, dim=1).indices
    return torch.zeros_like(grouped, dtype=torch.bool).scatter_(1, best, True).flatten()


# ---------------------------------------------------------------------------------------------------------
# a tile in, kelvin out

def t2m_targets(with_gfs: bool) -> tuple[str]:
    """What the transformer samples for a T2M field: the profile's residual from the regression's profile, the one
    given GFS (`t2m_residual`) or the one without (`t2m_residual_clim`). The rest of the field is the regression
    network's (`model.anomaly`)."""
    return ("t2m_residual" if with_gfs else "t2m_residual_clim",)


def profiles_kelvin(tokenizers, tokens: dict[str, torch.Tensor], base: torch.Tensor) -> torch.Tensor:
    """Generated residual tokens `(b, 4)` (`t2m_residual` or `t2m_residual_clim`) + the regression's profile
    `base` `(24,)` or `(b, 24)` K -> profiles `(b, 24)` K."""
    name = "t2m_residual" if "t2m_residual" in tokens else "t2m_residual_clim"
    return torch.as_tensor(base, dtype=torch.float32) + tokenizers.decode(name, tokens[name])[:, 0]


def member_profiles(tokenizers, tokens: dict[str, torch.Tensor], base: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    """The members' profiles `(members, 24)` K: the regression's profile `base` `(24,)` K + each member's decoded
    residual minus the members' mean residual, rescaled hour by hour to the standard deviation `sd` `(24,)` K
    over the members (the regression's error model, `anomaly.Regression.level_sd`). So the transformer gives the
    departures their shape over the day and their ranks, the regression's error model their size, and the
    regression its mean. Why centred: on the full world's val split the sampled residuals' mean added error to the
    regression's mean (ensemble-mean RMSE 1.165 against 1.011 K with GFS; the greedy residual did no better). Why
    rescaled: the transformer's own spread, calibrated by one factor on the val split, gave a spread-skill of 1.48
    on the test split (BENCHMARKS.md, Generation). One member has no departures."""
    residual = profiles_kelvin(tokenizers, tokens, torch.zeros(24))
    base = torch.as_tensor(base, dtype=torch.float32)
    if len(residual) < 2:
        return base.expand_as(residual).clone()
    departures = residual - residual.mean(0, keepdim=True)
    scale = torch.as_tensor(sd, dtype=torch.float32) / departures.std(0).clamp_min(1e-6)
    return base + departures * scale


def generate_t2m(model, tokenizers, regression, tile, conditions: dict[str, torch.Tensor], time: np.datetime64,
                 config: GenerationConfig, gfs=None,
                 tim: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """T2M on a `tiles.Tile` at UTC `time` as the sum of its parts (`tm_weather.model.anomaly`): the regression
    network's mean over the valid day (given `gfs`, the tile's `tiles.GFSInput`, or the climate) + each member's
    departure in the transformer's sampled profile residuals (`member_profiles`, scaled to the regression's
    `level_sd`; from `conditions`, `{name: (length,)}`, whose "gfs" tokens, if any, are those of `gfs`) + a
    residual noise draw per member of the regression's `cell_sd` -> fields `(members, 224, 224)` K, profiles
    `(members, 24)` K over the valid UTC day, the regression mean at `time` `(224, 224)` K and the generated
    tokens."""
    if ("gfs" in conditions) != (gfs is not None):
        raise ValueError("give the GFS input `gfs` exactly when the conditions hold its tokens")
    time = np.datetime64(time, "s")
    day = time.astype("datetime64[D]")
    hour = int((time - day) // np.timedelta64(1, "h"))
    hours = day.astype("datetime64[ns]") + np.arange(24) * np.timedelta64(1, "h")
    values, lead = (None, None) if gfs is None else (gfs.values, gfs.lead)
    out = regression.predict(tile.reflectance, tile.dem, hours, tile.lat, tile.lon, values, lead)  # (24, h, w)
    base = out.mean.mean((1, 2))
    tokens = generate(model, conditions, t2m_targets(gfs is not None), config, tim=tim)
    profiles = member_profiles(tokenizers, tokens, base, out.level_sd)
    anomaly, draws = regression.draws(out.mean[hour], float(out.cell_sd[hour]), tuple(tile.reflectance.shape[1:]),
                                      abs(tile.grid.transform.a), config.members, config.seed)
    return profiles[:, hour, None, None] + draws, profiles, base[hour] + anomaly, tokens


def tile_conditions(tile, tokenizers, time, gfs=None) -> dict[str, torch.Tensor]:
    """A `data.Tile` at valid `time` (+ its `tiles.GFSInput` over the UTC day) -> conditioning tokens `{name:
    (length,)}`: S-2, NDVI, coordinates and time always; DEM and LULC when the tile has them; GFS when given."""
    from tm_weather.model.data import tile_tokens, time_tokens

    conditions = {**tile_tokens(tile, tokenizers), "time": time_tokens(time)}
    if gfs is not None:
        series = torch.as_tensor(gfs.values, dtype=torch.float32).reshape(1, 1, 24)
        conditions["gfs"] = tokenizers.encode("gfs", series)[0]
    return conditions


def generate_tile(model, tokenizers, regression, tile, time, gfs=None, config: GenerationConfig = GenerationConfig(),
                  tim: bool = False, provenance: dict | None = None):
    """Generate T2M on a tile at valid `time` (given its `tiles.GFSInput` `gfs`, or without) -> CF
    `xr.Dataset`: `t2m (member, y, x)` K, `t2m_mean` and `t2m_spread (y, x)` K, `t2m_regression_mean (y, x)` K
    (the regression part of the sum, `generate_t2m`), `t2m_hourly (member, hour)` K over the valid UTC day and
    its mean, with the tile's CRS and provenance attributes (`provenance` added to them); with `tim`,
    `lulc_generated (member, y, x)`."""
    import datetime as dt

    import xarray as xr

    time = np.datetime64(time, "s")
    conditions = tile_conditions(tile, tokenizers, time, gfs)
    start = dt.datetime.now(dt.timezone.utc)
    field, hourly, regression_mean, tokens = generate_t2m(model, tokenizers, regression, tile, conditions, time, config, gfs,
                                                          tim)
    field, hourly = field.numpy().astype(np.float32), hourly.numpy().astype(np.float32)
    x, y = tile.grid.centres()
    day = time.astype("datetime64[D]").astype("datetime64[ns]")
    k = {"units": "K", "standard_name": "air_temperature", "grid_mapping": "spatial_ref"}
    ds = xr.Dataset(
        {
            "t2m": (("member", "y", "x"), field, {**k, "long_name": "2 m temperature, ensemble member"}),
            "t2m_mean": (("y", "x"), field.mean(0), {**k, "long_name": "2 m temperature, ensemble mean"}),
            "t2m_spread": (("y", "x"), field.std(0), {"units": "K", "long_name": "2 m temperature, ensemble standard deviation", "grid_mapping": "spatial_ref"}),
            "t2m_regression_mean": (("y", "x"), regression_mean.numpy().astype(np.float32), {
                **k, "long_name": "2 m temperature, the regression network's mean (t2m = this + sampled residuals)"}),
            "t2m_hourly": (("member", "hour"), hourly, {"units": "K", "standard_name": "air_temperature",
                                                         "long_name": "tile-mean hourly 2 m temperature over the valid UTC day"}),
            "t2m_hourly_mean": (("hour",), hourly.mean(0), {"units": "K", "long_name": "tile-mean hourly 2 m temperature, ensemble mean"}),
        },
        coords={"member": np.arange(config.members), "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
                "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
                "hour": ("hour", day + np.arange(24) * np.timedelta64(1, "h")),
                "time": time.astype("datetime64[ns]")},
    )
    if tim and "lulc" in tokens:
        ds["lulc_generated"] = (("member", "y", "x"), tokenizers.decode("lulc", tokens["lulc"]).numpy().astype(np.uint8) + 1,
                                {"long_name": "land cover generated by Thinking-in-Modalities (TerraMind classes 1-9)", "grid_mapping": "spatial_ref"})
    ds = ds.rio.write_crs(tile.grid.crs).rio.write_transform(tile.grid.transform)
    for name in ds.data_vars:  # list the CRS variable as a coordinate, so a plain `xr.open_dataset` keeps the CRS
        ds[name].encoding["coordinates"] = "spatial_ref"
    ds.attrs = {
        "Conventions": "CF-1.8",
        "title": "2 m temperature generated from Sentinel-2 by the tm-weather shared transformer",
        "source": f"tm-weather {tm_weather.__version__}",
        "valid_time": str(time) + "Z",
        "conditioned_on": " ".join(sorted(conditions)),
        "members": config.members, "seed": config.seed, "steps": config.steps, "order": config.order,
        "temperature": config.temperature, "top_k": config.top_k, "top_p": config.top_p, "tim": int(tim),
        "run_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **(provenance or {}),
    }
    check_generated(ds, tile)
    return ds


def check_generated(ds, tile) -> None:
    """`generate_tile`'s hand-over: `t2m` float32 `(member, y, x)` on `tile`'s grid, with its CRS, in kelvin
    (`ValueError`; `InputError` from `lexicon.check_kelvin_range` for values out of the plausible range)."""
    import rioxarray  # noqa: F401  (the .rio accessor)

    t2m = ds["t2m"]
    if t2m.dims != ("member", "y", "x") or t2m.shape[1:] != tuple(tile.grid.shape) or t2m.dtype != np.float32:
        raise ValueError(f"generated tile {tile.name}: t2m must be float32 (member, y, x) on the tile's "
                         f"{tile.grid.shape} grid, got {t2m.dtype} {dict(t2m.sizes)}")
    if ds.rio.crs is None or t2m.attrs.get("units") != "K":
        raise ValueError(f"generated tile {tile.name}: needs the tile's CRS and t2m in K, got {ds.rio.crs}, "
                         f"{t2m.attrs.get('units')!r}")
    check_kelvin_range(t2m.values, f"generated tile {tile.name}")
