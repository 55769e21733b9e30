"""Finite Scalar Quantization (FSQ): Mentzer et al. 2023, "Finite Scalar Quantization: VQ-VAE Made Simple",
arXiv 2309.15505.

Each of the `d = len(levels)` latent channels is bounded, scaled to `L_i` steps and rounded; the rounded
vector is a code, and its mixed-radix number is the token index:

    index = sum_i digit_i * basis_i,   basis = cumprod([1] + levels[:-1]),   digit_i in 0 .. L_i - 1

which is exactly TerraMind's convention (IBM/terratorch, `terramind/.../fsq`), so our tokens and theirs share
one index space (8-8-8-6-5 -> 15,360 codes; LULC 7-5-5-5-5 -> 4,375 codes).

Bounding: we use TerraMind's sigmoid, with codes in [0, 1] (`code_i = digit_i / (L_i - 1)`), rather than the
paper's `tanh` with a half-step offset for even levels. Why:

- the tokens join TerraMind's shared transformer, and the same bound gives the same code geometry and the same
  digit for the same latent as their tokenizers;
- the sigmoid treats odd and even levels alike (every digit 0 .. L-1 is reachable with no offset or
  `atanh(offset)` shift, which the paper needs for even L), so there is no special case to get wrong;
- the codes are not centred on zero, but the decoder's first layer has a bias that absorbs that.

Rounding is straight-through: forward uses the rounded value, backward the identity of the bounded one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class FSQ(nn.Module):
    """Finite scalar quantizer over the last dimension.

    `forward(z)`: `z (..., d)` unbounded latents -> `(codes (..., d) in [0, 1], indices (...) int64)`.
    """

    def __init__(self, levels: Sequence[int]):
        super().__init__()
        if len(levels) == 0 or any(int(n) < 2 for n in levels):
            raise ValueError(f"FSQ levels must be a non-empty list of integers >= 2, got {list(levels)}")
        self.levels = tuple(int(n) for n in levels)
        self.register_buffer("_levels", torch.tensor(self.levels, dtype=torch.int64), persistent=False)
        basis = torch.cumprod(torch.tensor((1,) + self.levels[:-1], dtype=torch.int64), dim=0)
        self.register_buffer("_basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        """Latent channels per token (`len(levels)`)."""
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        """Number of distinct codes, `prod(levels)`."""
        return math.prod(self.levels)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """`z (..., d)` -> codes `(..., d)` in [0, 1], with a straight-through gradient through the rounding."""
        steps = (self._levels - 1).to(z.dtype)
        scaled = torch.sigmoid(z) * steps
        rounded = scaled + (torch.round(scaled) - scaled).detach()
        return rounded / steps

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `(..., d)` in [0, 1] (on the grid) -> indices `(...)` int64 in [0, codebook_size)."""
        digits = torch.round(codes * (self._levels - 1).to(codes.dtype)).to(torch.int64)
        return (digits * self._basis).sum(dim=-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices `(...)` int -> codes `(..., d)` float32 in [0, 1]."""
        digits = (indices.to(torch.int64).unsqueeze(-1) // self._basis) % self._levels
        return digits.to(torch.float32) / (self._levels - 1).to(torch.float32)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = self.quantize(z)
        return codes, self.codes_to_indices(codes.detach())


def codebook_usage(indices: torch.Tensor, codebook_size: int) -> float:
    """Fraction of the codebook that `indices` (any shape) use, in [0, 1]."""
    return torch.unique(indices).numel() / codebook_size


def perplexity(indices: torch.Tensor, codebook_size: int) -> float:
    """`exp(entropy)` of the empirical index distribution: 1 (one code) .. codebook_size (uniform use)."""
    counts = torch.bincount(indices.reshape(-1).to(torch.int64), minlength=codebook_size).to(torch.float64)
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))
