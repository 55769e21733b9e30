"""Where and when: regions around real places (`anchors`), tile locations in them (split by location), visit
dates (split by year), and the tiles (one per location and visit), all drawn from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tm_weather.world.anchors import ANCHORS
from tm_weather.world.landscape import Region
from tm_weather.world.presets import SPLITS, Preset

#: Sentinel-2's descending-node local solar time (hours) of acquisition.
S2_LOCAL_HOUR = 10.5
#: Tile locations lie within this many degrees (latitude; longitude scaled by 1 / cos lat) of their region's centre.
REGION_RADIUS_DEG = 0.4
#: Regions beyond the anchors' number reuse anchors, moved by up to this many degrees.
REPEAT_JITTER_DEG = 1.0


@dataclass(frozen=True)
class Location:
    """A tile location: name, centre (degrees), split, index of its region."""

    name: str
    lat: float
    lon: float
    split: str
    region: int


@dataclass(frozen=True)
class Visit:
    """A region's visit: `days` `(day,)` datetime64[D] consecutive, `splits` the split of each day."""

    region: int
    days: np.ndarray
    splits: tuple[str, ...]


@dataclass(frozen=True)
class TileSpec:
    """A Sentinel-2 scene: name, location and visit indices, acquisition time (UTC)."""

    name: str
    location: int
    visit: int
    acquired: np.datetime64


@dataclass(frozen=True)
class Layout:
    regions: tuple[Region, ...]
    locations: tuple[Location, ...]
    visits: tuple[Visit, ...]
    tiles: tuple[TileSpec, ...]

    def split_days(self, split: str) -> np.ndarray:
        """Every day of `split`, sorted, datetime64[D]."""
        return np.sort(np.array([d for v in self.visits for d, s in zip(v.days, v.splits) if s == split],
                                dtype="datetime64[D]"))

    def tiles_of(self, split: str) -> list[TileSpec]:
        return [t for t in self.tiles if self.locations[t.location].split == split]


def plan(preset: Preset, rng: np.random.Generator) -> Layout:
    """Regions, locations, visits and tiles of `preset`."""
    regions = _shared_region(preset) if preset.shared else _regions(preset, rng)
    locations, by_split = [], {s: [r for r, reg in enumerate(regions) if reg.split == s] for s in SPLITS}
    for split in SPLITS:
        for k in range(preset.locations[split]):
            r = 0 if preset.shared else by_split[split][k // preset.per_region]
            reg = regions[r]
            dlat, dlon = rng.uniform(-REGION_RADIUS_DEG, REGION_RADIUS_DEG, 2)
            lat = float(np.clip(reg.lat + dlat, -80, 80))
            lon = float((reg.lon + dlon / np.cos(np.radians(lat)) + 180) % 360 - 180)
            locations.append(Location(f"tile{len(locations):02d}", round(lat, 4), round(lon, 4), split, r))
    visits = _shared_visits(preset) if preset.shared else _visits(preset, regions, rng)
    tiles, seen = [], dict.fromkeys(range(len(locations)), 0)
    for v, visit in enumerate(visits):
        for n, loc in enumerate(locations):
            days = [d for d, s in zip(visit.days, visit.splits) if s == loc.split]
            if loc.region != visit.region or not days:
                continue
            minutes = int(round((S2_LOCAL_HOUR - loc.lon / 15.0) * 60 + rng.uniform(-15, 15)))
            acquired = np.datetime64(rng.choice(days), "s") + np.timedelta64(minutes * 60 + int(rng.integers(60)), "s")
            name = loc.name if preset.visits == 1 else f"{loc.name}_v{seen[n]}"
            seen[n] += 1
            tiles.append(TileSpec(name, n, v, acquired))
    return Layout(tuple(regions), tuple(locations), tuple(visits), tuple(tiles))


def _anchor_region(anchor: tuple, split: str, lat: float | None = None, lon: float | None = None) -> Region:
    name, alat, alon, height, climate = anchor
    return Region(name, alat if lat is None else lat, alon if lon is None else lon, float(height), climate, split)


def _shared_region(preset: Preset) -> list[Region]:
    anchor = next(a for a in ANCHORS if a[0] == preset.shared[0])
    return [_anchor_region(anchor, "shared")]


def _shared_visits(preset: Preset) -> list[Visit]:
    return [Visit(0, np.datetime64(preset.shared[1]) + np.arange(len(SPLITS)), SPLITS)]


def _regions(preset: Preset, rng: np.random.Generator) -> list[Region]:
    """Regions per split: anchors stratified in latitude (one per equal-count band of the anchors sorted by
    latitude, so every preset spans the poleward-most to the equatorward-most climates), dealt to the splits at
    random; beyond the anchors' number, anchors repeat with their centre moved."""
    counts = {s: -(-preset.locations[s] // preset.per_region) for s in SPLITS}
    n = sum(counts.values())
    ordered = sorted(ANCHORS, key=lambda a: a[1])
    bands = np.array_split(np.arange(len(ordered)), min(n, len(ordered)))
    picks = [int(rng.choice(b)) for b in bands] + [int(i) for i in rng.integers(0, len(ordered), max(0, n - len(ordered)))]
    splits = np.concatenate([[s] * counts[s] for s in SPLITS])[rng.permutation(n)]
    regions = []
    for k, (i, split) in enumerate(zip(picks, splits)):
        anchor = ordered[i]
        if k < len(ordered):
            regions.append(_anchor_region(anchor, str(split)))
        else:
            dlat, dlon = rng.uniform(-REPEAT_JITTER_DEG, REPEAT_JITTER_DEG, 2)
            regions.append(_anchor_region(anchor, str(split), round(anchor[1] + dlat, 3), round(anchor[2] + dlon, 3)))
    return regions


def _visits(preset: Preset, regions: list[Region], rng: np.random.Generator) -> list[Visit]:
    """`preset.visits` dates per region, distinct over the world, on every other day of the split's years (so
    that the day before a visit, which holds its earlier GFS runs, is never another visit's date)."""
    visits = []
    for split in SPLITS:
        first, last = preset.years[split]
        start = np.datetime64(f"{first}-01-02")
        days = np.arange(start, np.datetime64(f"{last + 1}-01-01"), 2)
        mine = [r for r, reg in enumerate(regions) if reg.split == split]
        chosen = rng.choice(days, size=len(mine) * preset.visits, replace=False)
        for k, day in enumerate(chosen):
            visits.append(Visit(mine[k // preset.visits], np.array([day], dtype="datetime64[D]"), (split,)))
    return sorted(visits, key=lambda v: v.days[0])
