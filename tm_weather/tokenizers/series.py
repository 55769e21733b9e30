"""1-D FSQ autoencoder for temperature series: hourly T2M windows and daily mean/min/max windows.

A window `(b, c, t)` in kelvin (`c = 1` for hourly T2M, `c = 3` for daily mean, min, max) becomes `tokens`
FSQ tokens `(b, tokens)`, and the tokens alone come back as kelvin, with no side information: the absolute level
is carried by the tokens themselves, in one of two ways (stored in the checkpoint's config):

- `level_digits = 0`: the window is normalised with fixed global constants, `(x - offset_k) / scale_k`, and the
  learned digits carry level and shape together. FSQ's latents are bounded, so such a tokenizer only knows the
  levels it was trained on (the UK ERA5 fixture's 271..286 K: a 295 K day comes back about 10 K too cold).
- `level_digits = k > 0` (the hourly T2M tokenizer): the first `k` digits of token 0 are not learned but the
  window's mean on a fixed grid of `prod(levels[:k])` steps over `level_range_k` (200..330 K in 512 steps of
  0.25 K for 8-8-8), written as a reflected mixed-radix (Gray) number: neighbouring levels differ in one digit
  by one step, so a transformer that predicts the digits independently (one softmax per digit) cannot combine
  digits into a level far from the ones it meant. The learned digits (the rest of token 0 and the other tokens)
  carry `(x - level) / scale_k`: the shape about the grid level, the same for any climate, so the tokenizer
  codes every level in 200..330 K exactly as well as the levels it was trained on.

The model is a residual MLP over the whole window: a window is short (24 hourly or 32 daily values) and a few
tokens must summarise all of it, so every token sees every value. Encoding may refine the encoder's tokens by a
few passes of local search on the decoder's error (`search_passes`): with so few tokens, the encoder's rounding
is often one digit off the best code (hourly, 2 tokens: 0.243 K -> 0.210 K held-out RMSE after two passes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from tm_weather.tokenizers.fsq import FSQ


@dataclass(frozen=True)
class SeriesTokenizerConfig:
    """Shape and size of a series tokenizer. `levels` are the FSQ levels of one token."""

    length: int = 24  # values per window (time steps)
    channels: int = 1  # 1: hourly t2m; 3: daily mean, min, max
    tokens: int = 2  # tokens per window
    levels: tuple[int, ...] = (8, 8, 8, 6, 5)
    hidden: int = 256
    blocks: int = 2  # residual MLP blocks in the encoder and in the decoder
    offset_k: float = 280.0  # the level when `level_digits == 0`: (t - offset_k) / scale_k
    scale_k: float = 10.0
    search_passes: int = 0  # encode: local-search passes over the learned digits after the encoder (`_search`)
    level_digits: int = 0  # leading digits of token 0 coding the window's mean on a fixed grid (0: none)
    level_range_k: tuple[float, float] = (200.0, 330.0)  # the grid's first and last level, K

    def __post_init__(self):
        if not 0 <= self.level_digits <= len(self.levels) or (self.level_digits and self.channels != 1):
            raise ValueError(f"level_digits must be 0..{len(self.levels)}, and 0 unless channels == 1: {self}")

    @property
    def level_steps(self) -> int:
        """Levels on the grid: `prod(levels[:level_digits])` (1 when there is no level grid)."""
        return math.prod(self.levels[: self.level_digits])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SeriesTokenizerConfig:
        d = {**d, "levels": tuple(d["levels"])}
        if "level_range_k" in d:
            d["level_range_k"] = tuple(d["level_range_k"])
        return cls(**d)


class _ResidualMLP(nn.Module):
    """`(b, n_in)` -> `(b, n_out)`: a linear stem, `blocks` pre-norm residual blocks, a linear head."""

    def __init__(self, n_in: int, n_out: int, hidden: int, blocks: int):
        super().__init__()
        self.stem = nn.Linear(n_in, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
            for _ in range(blocks)
        )
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


def gray_digits(q: torch.Tensor, radices: tuple[int, ...]) -> torch.Tensor:
    """Integers `q (b,)` in `0 .. prod(radices) - 1` -> reflected mixed-radix Gray digits `(b, len(radices))`,
    most significant first: digit i is reversed (`r_i - 1 - a_i`) when the number formed by the digits above it
    is odd, so `q` and `q + 1` differ in exactly one digit, by one."""
    digits, above = [], torch.zeros_like(q)
    for i, r in enumerate(radices):
        below = math.prod(radices[i + 1 :])
        a = (q // below) % r
        digits.append(torch.where(above % 2 == 1, r - 1 - a, a))
        above = above * r + a
    return torch.stack(digits, -1)


def gray_value(digits: torch.Tensor, radices: tuple[int, ...]) -> torch.Tensor:
    """The inverse of `gray_digits`: digits `(b, len(radices))` int64 -> integers `(b,)`."""
    above = torch.zeros(digits.shape[0], dtype=torch.int64)
    for i, r in enumerate(radices):
        g = digits[:, i]
        above = above * r + torch.where(above % 2 == 1, r - 1 - g, g)
    return above


class SeriesTokenizer(nn.Module):
    """Series `(b, c, t)` in K <-> token indices `(b, tokens)` int64."""

    def __init__(self, config: SeriesTokenizerConfig):
        super().__init__()
        self.config = config
        self.fsq = FSQ(config.levels)
        # the learned digits: every digit of every token but the level grid's (the first `level_digits` of token 0)
        self.learned = FSQ((config.levels * config.tokens)[config.level_digits :])
        n_values = config.channels * config.length
        self.encoder = _ResidualMLP(n_values, self.learned.dim, config.hidden, config.blocks)
        self.decoder = _ResidualMLP(self.learned.dim, n_values, config.hidden, config.blocks)

    def _check(self, x: torch.Tensor) -> None:
        want = (self.config.channels, self.config.length)
        if x.ndim != 3 or tuple(x.shape[1:]) != want:
            raise ValueError(f"series windows must be (b, {want[0]}, {want[1]}) in K, got {tuple(x.shape)}")

    def level_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Windows `(b, 1, t)` K -> the level grid's codes `(b, level_digits)` in [0, 1]: each window's mean,
        rounded to the nearest grid level (clamped to `level_range_k`), as Gray digits."""
        c = self.config
        lo, hi = c.level_range_k
        q = torch.round((x.mean(dim=(1, 2)) - lo) / (hi - lo) * (c.level_steps - 1)).clamp(0, c.level_steps - 1)
        radices = c.levels[: c.level_digits]
        return gray_digits(q.to(torch.int64), radices).to(torch.float32) / (torch.tensor(radices) - 1)

    def level_k(self, codes: torch.Tensor) -> torch.Tensor:
        """The level grid's codes `(b, level_digits)` -> level `(b, 1, 1)` K (`offset_k` with no grid)."""
        c = self.config
        if not c.level_digits:
            return torch.full((codes.shape[0], 1, 1), c.offset_k)
        radices = c.levels[: c.level_digits]
        q = gray_value(torch.round(codes * (torch.tensor(radices) - 1)).to(torch.int64), radices)
        lo, hi = c.level_range_k
        return (lo + q.to(torch.float32) * (hi - lo) / (c.level_steps - 1)).view(-1, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x (b, c, t)` K -> reconstruction `(b, c, t)` K (differentiable, straight-through) and indices
        `(b, tokens)`."""
        self._check(x)
        c = self.config
        fixed = self.level_codes(x) if c.level_digits else x.new_zeros(x.shape[0], 0)
        z = self.encoder(((x - self.level_k(fixed)) / c.scale_k).flatten(1))
        codes = torch.cat([fixed, self.learned.quantize(z)], dim=1)
        return self._decode_codes(codes), self.fsq.codes_to_indices(codes.detach().view(-1, c.tokens, self.fsq.dim))

    def _decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `(b, tokens * len(levels))` in [0, 1], level grid first -> series `(b, c, t)` K."""
        c = self.config
        k = c.level_digits
        y = self.decoder(codes[:, k:]).view(codes.shape[0], c.channels, c.length)
        return y * c.scale_k + self.level_k(codes[:, :k])

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error of `x (b, c, t)`, in K^2."""
        return ((self(x)[0] - x) ** 2).mean()

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """`x (b, c, t)` K -> token indices `(b, tokens)` int64: the encoder's tokens, then `search_passes`
        passes of local search on the decoder's error (see `_search`)."""
        indices = self(x)[1]
        for _ in range(self.config.search_passes):
            indices = self._search(x, indices)
        return indices

    def _search(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """One pass of local search over every learned digit: move it one step down or up when that lowers the
        window's squared error, the other digits held (the level grid's digits stay the window's mean). No
        window's error ever grows; the tokens stay plain FSQ tokens, decoded as ever. (Trying all `L` digits
        instead gains nothing measurable on the held-out ERA5 days and costs 3x more.)"""
        codes = self.fsq.indices_to_codes(indices).flatten(1)  # (b, tokens * d)
        best = (self._decode_codes(codes) - x).pow(2).sum(dim=(1, 2))
        step = torch.tensor([-1.0, 1.0])[:, None]
        levels = self.config.levels * self.config.tokens
        for j in range(self.config.level_digits, len(levels)):
            n = levels[j]
            digits = (torch.round(codes[:, j] * (n - 1)) + step).clamp(0, n - 1)  # (2, b)
            trial = codes.unsqueeze(0).repeat(2, 1, 1)  # (2, b, tokens * d)
            trial[:, :, j] = digits / (n - 1)
            err = (self._decode_codes(trial.flatten(0, 1)).view(2, *x.shape) - x).pow(2).sum(dim=(2, 3))
            low, arg = err.min(0)
            better = low < best
            codes[better, j] = trial[arg, torch.arange(len(arg)), j][better]
            best = torch.where(better, low, best)
        return self.fsq.codes_to_indices(codes.view(-1, self.config.tokens, self.fsq.dim))

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Token indices `(b, tokens)` -> series `(b, c, t)` in K."""
        return self._decode_codes(self.fsq.indices_to_codes(indices).flatten(1))
