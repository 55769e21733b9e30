"""The shared multimodal transformer: a 4M / TerraMind-style encoder-decoder over the tokens of every modality.

    encoder:  input tokens (any subset of any modalities)            -> memory (b, n_in, d)
    decoder:  target positions (masked, or revealed with their token) + cross-attention to memory
              -> per-modality heads -> logits of every masked target token

Every token is embedded as   token embedding + modality embedding + position embedding:
- position: fixed 2-D sine-cosine on the 14 x 14 patch grid for image-like modalities (S-2, T2M field, DEM, NDVI,
  LULC: the same embedding for the same patch in every image, so pixel-aligned tokens share their position) and
  fixed 1-D sine-cosine for series (GFS and hourly profile windows, coordinates, time);
- token: FSQ tokens (15,360 = 8-8-8-6-5 codes, 4,375 = 7-5-5-5-5 for LULC) are embedded as a linear map of their
  FSQ code (the digits scaled to [0, 1]: nearby codes, nearby embeddings, which generalises to codes rarely seen in
  training) plus one learned vector per FSQ digit, and predicted by one softmax per digit (`sum(levels)` logits, 35 for 8-8-8-6-5), i.e. a
  factorised distribution over the 15,360 codes. Why not a 15,360-way table and head per modality: at width 96
  those are 2 x 1.5 M parameters per modality, 18 M in all (36 MB in float16) against a 1.1 M-parameter tiny
  transformer and a 5 MB checkpoint budget, and the head's matmul would dominate CPU time.
- time and coordinates: continuous, not tables (`CONTINUOUS`). The hour of day and the day of year (the two
  `time` tokens) become sin/cos of their angle on the daily / yearly cycle (two harmonics), latitude and
  longitude (the two `coords` tokens) sin/cos of their angle (three harmonics), each projected to the width by
  a small MLP, the same function for every day and place: a table would leave the embeddings of days and places
  never seen in training (the test split's days; any real tile outside the training world) untrained noise,
  while this interpolates between the days and places around them.

Decoder positions may be *revealed* (their true token embedded, no loss), which is what iterative MaskGIT
decoding feeds back at each step (see `generate.py`): the encoder then runs once per generation, not per step.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tm_weather.tokenizers import coords

FSQ_LEVELS = (8, 8, 8, 6, 5)  # 15,360 codes
LULC_LEVELS = (7, 5, 5, 5, 5)  # 4,375 codes
GRID = 14  # image tokens per side: 224 px / 16 px patches
HOURS, DAYS_OF_YEAR = 24, 366
TIME_HARMONICS = 2  # sin/cos of k * angle, k = 1..TIME_HARMONICS, for the hour of day and for the day of year
COORD_HARMONICS = 3  # the same for latitude and for longitude


@dataclass(frozen=True)
class Modality:
    """A token sequence: `levels` factorise its vocabulary (FSQ levels, or `(vocab,)`), `length` tokens per
    sample, `grid` > 0 for images laid out `grid x grid` (2-D positions), `target`: whether it is ever predicted."""

    name: str
    levels: tuple[int, ...]
    length: int
    grid: int = 0
    target: bool = True

    @property
    def vocab(self) -> int:
        return math.prod(self.levels)


#: Every modality the model knows, in a fixed order (its index is the modality id).
MODALITIES = (
    Modality("s2l2a", FSQ_LEVELS, GRID * GRID, GRID, target=False),
    Modality("dem", FSQ_LEVELS, GRID * GRID, GRID),
    Modality("lulc", LULC_LEVELS, GRID * GRID, GRID),
    Modality("ndvi", FSQ_LEVELS, GRID * GRID, GRID),
    Modality("t2m_field", FSQ_LEVELS, GRID * GRID, GRID),
    Modality("t2m_hourly", FSQ_LEVELS, 2),  # the tile's hourly T2M over the valid day, 2 tokens
    Modality("t2m_residual", FSQ_LEVELS, 4),  # t2m_hourly minus the regression's profile given GFS (model/anomaly.py), 4 tokens
    Modality("t2m_residual_clim", FSQ_LEVELS, 4),  # t2m_hourly minus the regression's profile without GFS, 4 tokens
    Modality("gfs", FSQ_LEVELS, 2),  # GFS T2M at the tile over the valid day (latest runs, tiles.gfs_series), 2 tokens
    Modality("coords", (coords.VOCABULARY,), 2, target=False),  # lat, lon on the 0.25 deg grid
    Modality("time", (HOURS + DAYS_OF_YEAR,), 2, target=False),  # hour of day, HOURS + day of year - 1
)
MODALITY_ID = {m.name: i for i, m in enumerate(MODALITIES)}


@dataclass(frozen=True)
class ModelConfig:
    """Width `d`, attention heads, encoder and decoder layers; MLP hidden = `mlp_ratio * d`."""

    width: int = 96
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    mlp_ratio: int = 4
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


#: Named sizes: `tiny` trains in minutes on a 2-core CPU; `base` is TerraMind-B's shape (768 wide, 12 + 12 layers).
SIZES = {
    "tiny": ModelConfig(width=96, heads=4, encoder_layers=3, decoder_layers=3),
    "base": ModelConfig(width=768, heads=12, encoder_layers=12, decoder_layers=12),
}


def sincos(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """1-D sine-cosine embedding of `positions (n,)` -> `(n, dim)` (Vaswani et al. 2017)."""
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, dtype=torch.float32) / (dim // 2))
    angles = positions.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def position_table(width: int) -> torch.Tensor:
    """`(len(MODALITIES), max length, width)`: 2-D sine-cosine (half the width for rows, half for columns) for
    image modalities, 1-D for the others."""
    longest = max(m.length for m in MODALITIES)
    table = torch.zeros(len(MODALITIES), longest, width)
    for i, m in enumerate(MODALITIES):
        p = torch.arange(m.length)
        if m.grid:
            table[i, : m.length] = torch.cat([sincos(p // m.grid, width // 2), sincos(p % m.grid, width // 2)], dim=1)
        else:
            table[i, : m.length] = sincos(p, width)
    return table


def _cyclic(angle: torch.Tensor, second: torch.Tensor, harmonics: int) -> torch.Tensor:
    """Angles `(n,)` rad -> `(n, 4 * harmonics)`: sin/cos of `k` times the angle, k = 1..harmonics, in the first
    half of the features where `second (n,)` is False, in the second half where True, zeros in the other half."""
    k = torch.arange(1, harmonics + 1, dtype=torch.float32, device=angle.device)
    f = torch.cat([(angle[:, None] * k).sin(), (angle[:, None] * k).cos()], dim=1)
    zero = torch.zeros_like(f)
    return torch.cat([torch.where(second[:, None], zero, f), torch.where(second[:, None], f, zero)], dim=1)


def time_features(token: torch.Tensor) -> torch.Tensor:
    """`time` tokens `(n,)` (hour of day 0-23, or `HOURS` + day of year - 1) -> `(n, 4 * TIME_HARMONICS)`: the
    token's angle on its cycle (24 h, or one year) through `_cyclic`, hours in the first half, days in the
    second. Continuous and periodic: 23 h is next to 0 h, 31 December next to 1 January."""
    is_day = token >= HOURS
    cycle = torch.where(is_day, DAYS_OF_YEAR - 0.75, float(HOURS))  # 365.25 days
    angle = 2 * math.pi * torch.where(is_day, token - HOURS, token).float() / cycle
    return _cyclic(angle, is_day, TIME_HARMONICS)


def coord_features(token: torch.Tensor) -> torch.Tensor:
    """`coords` tokens `(n,)` (latitude or longitude on the 0.25 deg grid, `tokenizers.coords`) -> `(n, 4 *
    COORD_HARMONICS)`: the angle in radians through `_cyclic`, latitudes in the first half, longitudes in the
    second. Continuous: a place never trained on lies between trained ones, not on an untrained table entry."""
    is_lon = token >= coords.LAT_TOKENS
    degrees = torch.where(is_lon, (token - coords.LAT_TOKENS) * coords.STEP_DEG - 180, token * coords.STEP_DEG - 90)
    return _cyclic(torch.deg2rad(degrees.float()), is_lon, COORD_HARMONICS)


#: Modalities embedded by a function of their token (sin/cos features through a small MLP), not by a table.
CONTINUOUS = {"time": (time_features, 4 * TIME_HARMONICS), "coords": (coord_features, 4 * COORD_HARMONICS)}


class Attention(nn.Module):
    """Multi-head attention of queries `(b, n, d)` over keys/values `(b, m, d)` (or `(1, m, d)`, shared by all
    rows), ignoring keys where `pad (b, m)`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.heads = config.heads
        self.q = nn.Linear(config.width, config.width)
        self.k = nn.Linear(config.width, config.width)
        self.v = nn.Linear(config.width, config.width)
        self.out = nn.Linear(config.width, config.width)

    def forward(self, x: torch.Tensor, context: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        if context.shape[0] == 1 < b:  # one context for every row (ensemble members): fold the rows into the queries
            return self(x.reshape(1, b * n, d), context, pad).view(b, n, d)
        q, k, v = (f(t).view(b, t.shape[1], self.heads, -1).transpose(1, 2) for f, t in ((self.q, x), (self.k, context), (self.v, context)))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block `(b, n, d)` -> `(b, n, d)`: self-attention, cross-attention to a memory
    (decoder blocks only), MLP."""

    def __init__(self, config: ModelConfig, cross: bool):
        super().__init__()
        d = config.width
        self.norm1, self.attn = nn.LayerNorm(d), Attention(config)
        self.cross = cross
        if cross:
            self.norm_q, self.norm_m, self.cross_attn = nn.LayerNorm(d), nn.LayerNorm(d), Attention(config)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, config.mlp_ratio * d), nn.GELU(), nn.Linear(config.mlp_ratio * d, d))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor, memory=None, memory_pad=None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, pad))
        if self.cross:
            x = x + self.drop(self.cross_attn(self.norm_q(x), self.norm_m(memory), memory_pad))
        return x + self.drop(self.mlp(self.norm2(x)))


@dataclass
class Tokens:
    """A padded batch of tokens from mixed modalities, all `(b, n)`: `token` int64 (index in its modality's
    vocabulary; anything where masked), `modality` int64 (index into `MODALITIES`), `position` int64 (index within
    the modality), `pad` bool (True: no token here)."""

    token: torch.Tensor
    modality: torch.Tensor
    position: torch.Tensor
    pad: torch.Tensor

    def to(self, device) -> Tokens:
        return Tokens(*(t.to(device) for t in (self.token, self.modality, self.position, self.pad)))

    def repeat(self, n: int) -> Tokens:
        """Each sample repeated `n` times along the batch (members of an ensemble)."""
        return Tokens(*(t.repeat_interleave(n, 0) for t in (self.token, self.modality, self.position, self.pad)))


class MultiModalTransformer(nn.Module):
    """Encoder-decoder over `Tokens`. `forward(inputs, targets, reveal)` -> `{modality name: (logits, ids)}`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.width
        # `CONTINUOUS` modalities have no table: an MLP embeds their features; empty entries keep the indices
        self.digit_embed = nn.ModuleList(nn.ModuleList(nn.Embedding(n, d) for n in m.levels if m.name not in CONTINUOUS)
                                         for m in MODALITIES)
        self.code_embed = nn.ModuleList(nn.Identity() if m.name in CONTINUOUS else nn.Linear(len(m.levels), d, bias=False)
                                        for m in MODALITIES)
        self.continuous_embed = nn.ModuleDict({name: nn.Sequential(nn.Linear(n, d), nn.GELU(), nn.Linear(d, d))
                                               for name, (_, n) in CONTINUOUS.items()})
        self.modality_embed = nn.Embedding(len(MODALITIES), d)
        self.register_buffer("positions", position_table(d), persistent=False)
        self.mask_embed = nn.Parameter(torch.zeros(d))
        self.encoder = nn.ModuleList(Block(config, cross=False) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(Block(config, cross=True) for _ in range(config.decoder_layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.heads = nn.ModuleDict({m.name: nn.Linear(d, sum(m.levels)) for m in MODALITIES if m.target})
        for m in MODALITIES:
            self.register_buffer(f"basis_{m.name}", _basis(m.levels), persistent=False)
            self.register_buffer(f"levels_{m.name}", torch.tensor(m.levels), persistent=False)
        self.apply(_init)

    def digits(self, modality: Modality, token: torch.Tensor) -> torch.Tensor:
        """Token indices `(...)` -> FSQ digits `(..., len(levels))` (index = sum digit_i * basis_i)."""
        basis = getattr(self, f"basis_{modality.name}")
        return (token[..., None] // basis) % getattr(self, f"levels_{modality.name}")

    def tokens_from_digits(self, modality: Modality, digits: torch.Tensor) -> torch.Tensor:
        """Digits `(..., len(levels))` -> token indices `(...)`, on the digits' device (generation samples on the CPU)."""
        return (digits * getattr(self, f"basis_{modality.name}").to(digits.device)).sum(-1)

    def embed(self, t: Tokens, known: torch.Tensor) -> torch.Tensor:
        """`Tokens` -> `(b, n, d)`: token embedding where `known (b, n)`, else the mask embedding; plus modality
        and position embeddings."""
        x = self.modality_embed(t.modality) + self.positions[t.modality, t.position]
        tok = torch.zeros_like(x)
        for i, m in enumerate(MODALITIES):
            sel = (t.modality == i) & known
            if sel.any() and m.name in CONTINUOUS:
                tok[sel] = self.continuous_embed[m.name](CONTINUOUS[m.name][0](t.token[sel])).to(tok.dtype)  # autocast
            elif sel.any():
                digits = self.digits(m, t.token[sel])
                code = digits / (getattr(self, f"levels_{m.name}") - 1).clamp_min(1)  # FSQ code in [0, 1]^d
                tok[sel] = (self.code_embed[i](code) + sum(table(digits[:, j]) for j, table in enumerate(self.digit_embed[i]))).to(tok.dtype)
        return x + torch.where(known[..., None], tok, self.mask_embed)

    def encode(self, inputs: Tokens) -> torch.Tensor:
        """Input tokens -> memory `(b, n_in, d)`."""
        x = self.embed(inputs, ~inputs.pad)
        for block in self.encoder:
            x = block(x, inputs.pad)
        return self.encoder_norm(x)

    def decode(self, memory: torch.Tensor, memory_pad: torch.Tensor, targets: Tokens, reveal: torch.Tensor):
        """Target positions (tokens where `reveal (b, n)`, masked elsewhere) -> `{name: (logits (k, sum(levels)),
        where (k,) flat indices into the (b * n) positions)}` for every masked target position."""
        x = self.embed(targets, reveal & ~targets.pad)
        for block in self.decoder:
            x = block(x, targets.pad, memory, memory_pad)
        x = self.decoder_norm(x)
        out = {}
        ask = (~reveal & ~targets.pad).flatten()
        flat_mod, flat_x = targets.modality.flatten(), x.flatten(0, 1)
        for i, m in enumerate(MODALITIES):
            where = torch.nonzero(ask & (flat_mod == i)).squeeze(1)
            if len(where) and m.target:
                out[m.name] = (self.heads[m.name](flat_x[where]), where)
        return out

    def forward(self, inputs: Tokens, targets: Tokens, reveal: torch.Tensor):
        return self.decode(self.encode(inputs), inputs.pad, targets, reveal)

    def losses(self, inputs: Tokens, targets: Tokens, reveal: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood (nats per token, summed over FSQ digits) of every masked target token,
        per modality: `{name: scalar}`."""
        out = {}
        flat_token = targets.token.flatten()
        for name, (logits, where) in self(inputs, targets, reveal).items():
            m = MODALITIES[MODALITY_ID[name]]
            digits = self.digits(m, flat_token[where])
            parts = logits.split(m.levels, dim=-1)
            out[name] = sum(F.cross_entropy(p, digits[:, j]) for j, p in enumerate(parts))
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _basis(levels: tuple[int, ...]) -> torch.Tensor:
    """Mixed-radix basis `cumprod([1] + levels[:-1])` (the FSQ and TerraMind index convention)."""
    return torch.cumprod(torch.tensor((1,) + tuple(levels[:-1]), dtype=torch.int64), dim=0)


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def save_model(model: MultiModalTransformer, path, metadata: dict[str, str]) -> None:
    """Write `model`'s weights as float16 safetensors, its config and `metadata` (strings) in the header."""
    from tm_weather.checkpoint_io import save_safetensors

    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_safetensors(tensors, path, {**metadata, "config": json.dumps(model.config.to_dict())})


def load_model(path) -> tuple[MultiModalTransformer, dict[str, str]]:
    """A checkpoint written by `save_model` -> (model in eval mode, float32; its metadata)."""
    from tm_weather.checkpoint_io import read_safetensors
    from tm_weather.errors import InputError

    tensors, meta = read_safetensors(path, "a safetensors transformer checkpoint")
    if "modality" in meta:  # tokenizer checkpoints name their modality
        raise InputError(path, "checkpoint", "a transformer checkpoint", f"a {meta['modality']!r} tokenizer checkpoint")
    if "config" not in meta:
        raise InputError(path, "metadata", "'config'", str(sorted(meta)))
    try:
        config = json.loads(meta["config"])
        model = MultiModalTransformer(ModelConfig(**config))
    except (ValueError, TypeError) as e:  # broken JSON, unknown keys, impossible sizes
        raise InputError(path, "metadata config", "a transformer's ModelConfig as JSON", str(e)[:160]) from e
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:  # missing, unexpected or mis-shaped tensors
        raise InputError(path, "tensors", f"the weights of a transformer of its config {config}", str(e)[:160]) from e
    return model.eval(), meta
