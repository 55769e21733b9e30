"""The lapse rate: how a 2 m temperature is brought from one height to another (GFS's model orography to a tile's
DEM, in `tiles.gfs_series` and the GFS + lapse baseline of `verify.baselines`).

`tm_weather.world.constants.LAPSE_RATE` is a separate number on purpose: it is the benchmark world's physics
assumption (what its truth is made with), which a user's data need not share; it happens to have the same value.
"""

from __future__ import annotations

#: ICAO standard atmosphere, K per m.
LAPSE_RATE_K_PER_M = -0.0065


def lapse_adjust(t2m_k, from_height_m, to_height_m):
    """`t2m_k` (K) at `from_height_m` brought to `to_height_m` (m): `t2m_k + LAPSE_RATE_K_PER_M x (to - from)`, for
    floats and numpy arrays alike (a float32 `t2m_k` stays float32)."""
    return t2m_k + LAPSE_RATE_K_PER_M * (to_height_m - from_height_m)
