"""Coordinates tokenizer: latitude and longitude on a 0.25 deg grid, two tokens per location.

TerraMind writes coordinates as text (`lat=.. lon=..`) rounded to 0.25 deg; here the same rounding gives two
integer tokens in one vocabulary: `lat_index` in 0 .. 720 (90 S .. 90 N) and `721 + lon_index`, `lon_index` in
0 .. 1439 (180 W .. 179.75 E). Nothing is learned: decoding returns the grid node, within 0.125 deg of the
input in each coordinate (longitude modulo 360).
"""

from __future__ import annotations

import torch

STEP_DEG = 0.25
LAT_TOKENS = int(180 / STEP_DEG) + 1  # 721: both poles included
LON_TOKENS = int(360 / STEP_DEG)  # 1440: 180 E is 180 W
VOCABULARY = LAT_TOKENS + LON_TOKENS


def encode(lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
    """Latitudes and longitudes `(b,)` in degrees -> tokens `(b, 2)` int64 (lat token, lon token)."""
    lat, lon = torch.as_tensor(lat, dtype=torch.float64), torch.as_tensor(lon, dtype=torch.float64)
    if bool(((lat < -90) | (lat > 90)).any()):
        raise ValueError(f"latitudes must lie in -90..90 degrees, got {lat.min():.3f}..{lat.max():.3f}")
    lat_i = torch.round((lat + 90) / STEP_DEG).to(torch.int64)
    lon_i = torch.round(torch.remainder(lon + 180, 360) / STEP_DEG).to(torch.int64) % LON_TOKENS
    return torch.stack([lat_i, LAT_TOKENS + lon_i], dim=-1)


def decode(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens `(b, 2)` -> (latitude, longitude) `(b,)` float64 degrees, longitude in [-180, 180)."""
    lat_i, lon_i = tokens[..., 0], tokens[..., 1] - LAT_TOKENS
    if bool(((lat_i < 0) | (lat_i >= LAT_TOKENS) | (lon_i < 0) | (lon_i >= LON_TOKENS)).any()):
        raise ValueError("coordinate tokens out of range: (0..720, 721..2160) expected")
    return lat_i.to(torch.float64) * STEP_DEG - 90, lon_i.to(torch.float64) * STEP_DEG - 180
