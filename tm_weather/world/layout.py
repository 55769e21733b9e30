"""Where and when: tile locations (split by location) and world days (split by time), drawn from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tm_weather.world import constants as C
from tm_weather.world.presets import SPLITS, Preset

#: Sentinel-2's descending-node local solar time (hours) of acquisition.
S2_LOCAL_HOUR = 10.5


@dataclass(frozen=True)
class TileSpec:
    """A tile: name, centre lat/lon (degrees, on the 2.5 km truth lattice), split, acquisition time (UTC)."""

    name: str
    lat: float
    lon: float
    split: str
    acquired: np.datetime64


@dataclass(frozen=True)
class Layout:
    """tiles; days: every world day, sorted, datetime64[D]; day_splits: the split of each day."""

    tiles: tuple[TileSpec, ...]
    days: np.ndarray
    day_splits: np.ndarray

    @property
    def episodes(self) -> list[np.ndarray]:
        """Runs of consecutive days (each `(day,)` datetime64[D]): weather is continuous within one."""
        breaks = np.flatnonzero(np.diff(self.days) != np.timedelta64(1, "D")) + 1
        return np.split(self.days, breaks)

    def split_days(self, split: str) -> np.ndarray:
        return self.days[self.day_splits == split]


def plan(preset: Preset, rng: np.random.Generator) -> Layout:
    """Tile centres stratified in latitude over the preset's box (so tiles span its climates), each tile acquired
    on one day of its split at about 10:30 local solar time; days as the preset's episodes list them."""
    days, splits = [], []
    for split in SPLITS:
        for month, day, n in preset.episodes[split]:
            days.append(np.datetime64(f"{preset.year}-{month:02d}-{day:02d}") + np.arange(n))
            splits += [split] * n
    days, splits = np.concatenate(days), np.asarray(splits)
    order = np.argsort(days)
    layout = Layout(tiles=(), days=days[order], day_splits=splits[order])

    n = sum(preset.tiles.values())
    band = rng.permutation(n)
    lat = preset.lat[0] + (band + rng.uniform(0.1, 0.9, n)) / n * (preset.lat[1] - preset.lat[0])
    lon = rng.uniform(*preset.lon, n)
    lat, lon = (np.round(v / C.TRUTH_RESOLUTION_DEG) * C.TRUTH_RESOLUTION_DEG for v in (lat, lon))
    tiles, i = [], 0
    for split in SPLITS:
        for _ in range(preset.tiles[split]):
            day = rng.choice(layout.split_days(split))
            minutes = int(round((S2_LOCAL_HOUR - lon[i] / 15.0) * 60 + rng.uniform(-15, 15)))
            acquired = np.datetime64(day, "s") + np.timedelta64(minutes * 60 + int(rng.integers(60)), "s")
            tiles.append(TileSpec(f"tile{i:02d}", round(float(lat[i]), 4), round(float(lon[i]), 4), split, acquired))
            i += 1
    return Layout(tiles=tuple(tiles), days=layout.days, day_splits=layout.day_splits)
