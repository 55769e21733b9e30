"""2-D FSQ autoencoder for image-like modalities: Sentinel-2 L2A, DEM, NDVI, LULC and T2M fields.

As in TerraMind: 224 x 224 inputs, 16-pixel patches -> a 14 x 14 grid of tokens (196 per image), each token an
FSQ code (8-8-8-6-5 for continuous modalities, 7-5-5-5-5 for LULC). Continuous inputs `(b, c, h, w)` in their
physical units are standardised per channel with fixed constants (`mean`, `std`: TerraMind's published ones for
S2L2A, DEM and NDVI; fixed kelvin constants for T2M) and reconstructed with a squared error. Categorical inputs
(LULC) are class maps `(b, h, w)` int64 in 0 .. classes - 1, one-hot encoded, and reconstructed as logits with
cross-entropy; `decode` returns the arg-max class map.

The network is a small convolutional encoder (two stride-4 convolutions, then residual 3 x 3 blocks on the 14 x
14 grid) and its mirror image as decoder: small enough to train in minutes on a CPU. It is fully convolutional,
so training uses smaller crops (sides a multiple of 16).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tm_weather.tokenizers.fsq import FSQ


@dataclass(frozen=True)
class ImageTokenizerConfig:
    """An image tokenizer. `classes > 0`: categorical input (LULC) with that many classes; else `channels`
    continuous bands standardised with `mean` and `std` (one value per channel, in the input's units)."""

    channels: int = 1
    classes: int = 0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    levels: tuple[int, ...] = (8, 8, 8, 6, 5)
    size: int = 224
    patch: int = 16
    width: int = 48
    blocks: int = 2

    def __post_init__(self):
        if self.patch != 16:
            raise ValueError(f"the encoder downsamples by 16 (two stride-4 convolutions), got patch {self.patch}")
        if not self.classes and not len(self.mean) == len(self.std) == self.channels:
            raise ValueError(f"mean and std need {self.channels} values, got {len(self.mean)} and {len(self.std)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ImageTokenizerConfig:
        return cls(**{**d, **{k: tuple(d[k]) for k in ("mean", "std", "levels")}})


class _ResBlock(nn.Module):
    """`(b, w, h, w)` -> same: GroupNorm, 3 x 3 conv, GELU, 3 x 3 conv, plus the input."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, width), nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ImageTokenizer(nn.Module):
    """Image `(b, c, 224, 224)` (or class map `(b, 224, 224)`) <-> token indices `(b, 14, 14)` int64 (any sides
    that are multiples of 16 work: `(b, h/16, w/16)` tokens)."""

    def __init__(self, config: ImageTokenizerConfig):
        super().__init__()
        self.config = config
        self.fsq = FSQ(config.levels)
        c_in = config.classes or config.channels
        w = config.width
        self.encoder = nn.Sequential(
            nn.Conv2d(c_in, w, 4, stride=4), nn.GELU(), nn.Conv2d(w, w, 4, stride=4),
            *(_ResBlock(w) for _ in range(config.blocks)),
            nn.GroupNorm(8, w), nn.Conv2d(w, self.fsq.dim, 1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(self.fsq.dim, w, 1), *(_ResBlock(w) for _ in range(config.blocks)),
            nn.GroupNorm(8, w), nn.ConvTranspose2d(w, w, 4, stride=4), nn.GELU(),
            nn.ConvTranspose2d(w, c_in, 4, stride=4),
        )  # fmt: skip
        self.register_buffer("mean", torch.tensor(config.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, -1, 1, 1), persistent=False)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Check the shape (sides a multiple of 16: 224 in use, smaller crops in training) and standardise."""
        c = self.config
        want = "(b, h, w) int class maps" if c.classes else f"(b, {c.channels}, h, w) images"
        ok = x.ndim == (3 if c.classes else 4) and (c.classes or x.shape[1] == c.channels)
        if not ok or x.shape[-1] % c.patch or x.shape[-2] % c.patch:
            raise ValueError(f"expected {want} with h and w multiples of {c.patch}, got {tuple(x.shape)}")
        if c.classes:
            return F.one_hot(x.long(), c.classes).permute(0, 3, 1, 2).float()
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> decoder output (standardised values or class logits, `(b, c, h, w)`) and indices `(b, h/16, w/16)`."""
        z = self.encoder(self._inputs(x)).permute(0, 2, 3, 1)
        codes, indices = self.fsq(z)
        return self.decoder(codes.permute(0, 3, 1, 2)), indices

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Squared error in standardised units, or cross-entropy for class maps."""
        out, _ = self(x)
        if self.config.classes:
            return F.cross_entropy(out, x.long())
        return F.mse_loss(out, self._inputs(x))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image `(b, c, 224, 224)` or class map `(b, 224, 224)` -> indices `(b, 14, 14)` int64."""
        return self(x)[1]

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices `(b, 14, 14)` -> image `(b, c, 224, 224)` in input units, or class map `(b, 224, 224)`."""
        out = self.decoder(self.fsq.indices_to_codes(indices).permute(0, 3, 1, 2))
        return out.argmax(1) if self.config.classes else out * self.std + self.mean
