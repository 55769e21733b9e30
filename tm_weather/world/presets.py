"""World sizes: `tiny` (seconds, tests), `demo` (under a minute, `make demo`), `full` (minutes, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Preset:
    """tiles: number of tile locations per split; episodes: per split, runs of consecutive days as
    (month, day, number of days) in `year` (adjacent runs of different splits share continuous weather); lat, lon: the box (degrees) tile centres are drawn in;
    truth_cells: cells per side of each tile's 2.5 km truth grid (odd: the tile sits in the centre cell)."""

    name: str
    tiles: dict[str, int]
    episodes: dict[str, tuple[tuple[int, int, int], ...]]
    lat: tuple[float, float]
    lon: tuple[float, float]
    truth_cells: int
    year: int = 2023


#: The box of the demo and full worlds: Mediterranean to subarctic, maritime to continental.
EUROPE = dict(lat=(37.0, 67.0), lon=(3.0, 29.0))

PRESETS = {
    "tiny": Preset(
        name="tiny",
        tiles={"train": 2, "val": 1, "test": 1},
        episodes={"train": ((2, 10, 1),), "val": ((2, 11, 1),), "test": ((2, 12, 1),)},
        lat=(48.0, 52.0),
        lon=(8.0, 11.0),
        truth_cells=5,
    ),
    "demo": Preset(
        name="demo",
        tiles={"train": 6, "val": 2, "test": 2},
        episodes={"train": ((1, 15, 2), (4, 15, 2), (7, 15, 1)), "val": ((9, 15, 1),), "test": ((11, 14, 2),)},
        **EUROPE,
        truth_cells=7,
    ),
    "full": Preset(
        name="full",
        tiles={"train": 16, "val": 4, "test": 6},
        episodes={
            "train": ((1, 10, 4), (3, 1, 4), (4, 20, 4), (6, 10, 4), (7, 20, 4), (8, 20, 4)),
            "val": ((9, 15, 3),),
            "test": ((10, 20, 3), (12, 5, 4)),
        },
        **EUROPE,
        truth_cells=9,
    ),
}
