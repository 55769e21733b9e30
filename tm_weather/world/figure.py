"""The docs figure for one tile of a built world: S-2 RGB, LULC, DEM, the 10 m T2M field at acquisition, the
hourly truth profile at the tile and the GFS series of the runs of that day (docs/world_tile.png)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402

from tm_weather.catalog import load_catalog  # noqa: E402
from tm_weather.grib import read_t2m  # noqa: E402
from tm_weather.sources.era5 import read_era5_file  # noqa: E402
from tm_weather.sources.sentinel2 import read_dem, read_lulc, read_s2l2a  # noqa: E402
from tm_weather.world import constants as C  # noqa: E402
from tm_weather.world.gfs import gfs_path  # noqa: E402
from tm_weather.world.landscape import N_CLASSES  # noqa: E402
from tm_weather.world.physics import t2m_terms  # noqa: E402

#: Horizontal mixing of land-cover effects in the 10 m field: Gaussian sigma in pixels (100 m).
MIXING_PX = 10


def draw_tile(world: Path, tile_name: str, png: Path) -> None:
    """Draw the figure for `tile_name` of the world built in `world` into `png`."""
    catalog = load_catalog(world / "catalog.yaml")
    tile = next(t for t in catalog.tiles if t.name == tile_name)
    s2 = read_s2l2a(catalog.path(tile.s2))
    dem = read_dem(catalog.path(tile.dem), s2.grid).values
    lulc = read_lulc(catalog.path(tile.lulc), s2.grid).values
    truth = read_era5_file(world / "truth" / f"{tile_name}.nc")
    n = truth.sizes["y"]
    day = s2.time.astype("datetime64[D]")
    hours = truth.time.values[truth.time.values.astype("datetime64[D]") == day]
    profile = truth.sel(time=hours).isel(y=n // 2, x=n // 2).values

    fig, ax = plt.subplots(2, 3, figsize=(13, 8))
    rgb = np.clip(s2.reflectance.sel(band=["B04", "B03", "B02"]).values.transpose(1, 2, 0) / 0.3, 0, 1)
    ax[0, 0].imshow(rgb)
    ax[0, 0].set_title(f"{tile_name} S-2 RGB {str(s2.time)[:16]}Z")
    im = ax[0, 1].imshow(lulc, cmap="tab10", vmin=0.5, vmax=10.5)
    fig.colorbar(im, ax=ax[0, 1], ticks=range(1, 10)).set_label("LULC class")
    ax[0, 1].set_title("LULC classes")
    fig.colorbar(ax[0, 2].imshow(dem, cmap="terrain"), ax=ax[0, 2]).set_label("m")
    ax[0, 2].set_title("DEM")
    field = _field_10m(s2, dem, lulc, truth, profile, hours)
    fig.colorbar(ax[1, 0].imshow(field - 273.15, cmap="RdYlBu_r"), ax=ax[1, 0]).set_label("deg C")
    ax[1, 0].set_title("T2M at acquisition, 10 m")
    ax[1, 1].plot(hours, profile - 273.15, "k-", lw=2, label="truth (2.5 km cell)")
    ax[1, 1].set_title("hourly profile on the acquisition day")
    for cycle in C.GFS_CYCLES:
        init = np.datetime64(day, "h") + cycle
        values, valid = [], []
        for lead in C.GFS_LEADS:
            da = read_t2m(gfs_path(catalog.path(catalog.cache_dir), init, lead))
            values.append(float(da.interp(y=float(truth.y[n // 2]), x=float(truth.x[n // 2])).squeeze()))
            valid.append(init + lead)
        ax[1, 1].plot(valid, np.asarray(values) - 273.15, lw=1, label=f"GFS {cycle:02d}Z run (no lapse corr.)")
        step = (np.asarray(valid, "datetime64[h]") - hours[0].astype("datetime64[h]")).astype(int)
        inside = step < len(profile)
        ax[1, 2].plot(np.asarray(C.GFS_LEADS)[inside], np.asarray(values)[inside] - profile[step[inside]], label=f"{cycle:02d}Z")
    ax[1, 1].legend(fontsize=7)
    ax[1, 1].set_ylabel("deg C")
    ax[1, 1].tick_params(axis="x", labelrotation=30)
    ax[1, 2].axhline(0, color="k", lw=0.5)
    ax[1, 2].set_title("GFS - truth by lead (runs of the day)")
    ax[1, 2].set_xlabel("lead (h)")
    ax[1, 2].set_ylabel("K")
    ax[1, 2].legend(fontsize=7)
    for a in ax[0].tolist() + [ax[1, 0]]:
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    fig.savefig(png, dpi=90, metadata={"Software": None})
    plt.close(fig)


def _field_10m(s2, dem: np.ndarray, lulc: np.ndarray, truth, profile: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """The 10 m T2M field at the acquisition hour: the truth cell's value plus the world's elevation and land-cover
    terms of each pixel (land cover mixed over `MIXING_PX`) minus those of the tile mean."""
    hour = np.datetime64(s2.time, "h")
    onehot = np.stack([gaussian_filter((lulc == c).astype(float), MIXING_PX) for c in range(1, N_CLASSES + 1)], -1)
    lat = np.full(dem.size, float(truth.y.mean()))
    lon = np.full(dem.size, float(truth.x.mean()))
    terms = t2m_terms(np.array([hour]), lat, lon, dem.ravel().astype(float), onehot.reshape(1, -1, N_CLASSES), np.zeros((1, dem.size)))
    local = sum(terms[t] for t in ("elevation", "water", "urban", "forest", "snow"))[0].reshape(dem.shape)
    base = profile[int((hour - hours[0].astype("datetime64[h]")).astype(int))]
    return base + local - local.mean()
