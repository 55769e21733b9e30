"""The docs figure of a built world: for several tiles, the S-2 RGB, the DEM, the land cover and the truth on the
tile at the local night minimum and the afternoon maximum of the acquisition day (docs/world_tiles.png).

    python -m tm_weather.world.figure WORLD PNG [TILE ...]      (default: the first test tile of each region)
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tm_weather.catalog import load_catalog  # noqa: E402
from tm_weather.series import regrid_to_tile  # noqa: E402
from tm_weather.sources.field_file import read_field_file  # noqa: E402
from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a  # noqa: E402

#: Local solar hours drawn: before sunrise (the fitted minimum) and mid-afternoon (the fitted maximum).
NIGHT_HOUR, DAY_HOUR = 4, 14
LULC_NAMES = ("water", "trees", "flooded", "crops", "built", "bare", "snow", "clouds", "rangeland")


def draw_tiles(world: Path, names: list[str], png: Path) -> None:
    """One row per tile of `names` of the world in `world`: RGB, DEM, LULC, truth at night and by day."""
    catalog = load_catalog(world / "catalog.yaml")
    fig, axes = plt.subplots(len(names), 5, figsize=(15, 3.1 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        tile = next(t for t in catalog.tiles if t.name == name)
        s2 = read_s2l2a(catalog.path(tile.s2))
        dem = read_dem(catalog.path(tile.dem), s2.grid).values
        lulc = read_lulc(catalog.path(tile.lulc), s2.grid).values
        truth = read_field_file(catalog.path(catalog.sources[f"truth_{name}"].paths[0]))
        lon = float(truth["longitude"].mean())
        rgb = np.clip(s2.reflectance.sel(band=["B04", "B03", "B02"]).values.transpose(1, 2, 0) / 0.3, 0, 1)
        row[0].imshow(np.nan_to_num(rgb, nan=1.0))
        row[0].set_title(f"{name} ({float(truth['latitude'].mean()):.1f}, {lon:.1f}) {str(s2.time)[:10]}", fontsize=9)
        fig.colorbar(row[1].imshow(dem, cmap="terrain"), ax=row[1], shrink=0.8).set_label("m")
        row[1].set_title("DEM", fontsize=9)
        im = row[2].imshow(lulc, cmap="tab10", vmin=0.5, vmax=9.5, interpolation="nearest")
        bar = fig.colorbar(im, ax=row[2], shrink=0.8, ticks=range(1, 10))
        bar.ax.set_yticklabels(LULC_NAMES, fontsize=6)
        row[2].set_title("land cover", fontsize=9)
        day = np.datetime64(s2.time, "D")
        for a, local in ((row[3], NIGHT_HOUR), (row[4], DAY_HOUR)):
            utc = np.datetime64(day, "h") + int(round(local - lon / 15)) % 24
            field = regrid_to_tile(truth.sel(time=[utc]), s2.grid.crs, s2.grid.transform, s2.grid.shape)[0].values
            anomaly = field - field.mean()
            lim = max(float(np.abs(anomaly).max()), 0.1)
            fig.colorbar(a.imshow(anomaly, cmap="RdBu_r", vmin=-lim, vmax=lim), ax=a, shrink=0.8).set_label("K")
            a.set_title(f"truth - tile mean ({field.mean() - 273.15:.1f} C), {local:02d}h local", fontsize=9)
        for a in row:
            a.set_xticks([])
            a.set_yticks([])
    fig.tight_layout()
    fig.savefig(png, dpi=45, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str]) -> None:
    world, png, names = Path(argv[0]), Path(argv[1]), argv[2:]
    if not names:
        catalog = load_catalog(world / "catalog.yaml")
        names = catalog.splits["test"].tiles[:: max(1, len(catalog.splits["test"].tiles) // 4)][:4]
    draw_tiles(world, names, png)


if __name__ == "__main__":
    main(sys.argv[1:])
