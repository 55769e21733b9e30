"""World sizes: `tiny` (seconds, tests), `demo` (about a minute, `make demo`), `full` (minutes, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Preset:
    """locations: tile locations per split; per_region: locations per region (a region is one anchor's
    surroundings, `tm_weather.world.anchors`); visits: dates per region, each its own calendar date (one day of
    truth, GFS and an S-2 scene per location); years: per split, the years its dates are drawn from (the splits'
    years do not overlap, so test days never appear in training; from 2021 on, where Herbie finds GFS's 0.25 deg
    files, its `pgrb2.0p25` product).

    shared: for the tiny test world only, (anchor name, first day): one region holding every split's locations,
    visited once over len(SPLITS) consecutive days, day i belonging to split i (each location acquired on its
    split's day, its truth covering all three days)."""

    name: str
    locations: dict[str, int]
    per_region: int
    visits: int
    years: dict[str, tuple[int, int]]
    shared: tuple[str, str] | None = None


PRESETS = {
    "tiny": Preset(
        name="tiny", locations={"train": 2, "val": 1, "test": 1}, per_region=4, visits=1,
        years={"train": (2023, 2023), "val": (2023, 2023), "test": (2023, 2023)}, shared=("munich", "2023-02-10"),
    ),
    "demo": Preset(
        name="demo", locations={"train": 12, "val": 2, "test": 4}, per_region=3, visits=2,
        years={"train": (2021, 2023), "val": (2024, 2024), "test": (2025, 2025)},
    ),
    "full": Preset(
        name="full", locations={"train": 500, "val": 40, "test": 60}, per_region=5, visits=3,
        years={"train": (2021, 2023), "val": (2024, 2024), "test": (2025, 2025)},
    ),
}
