"""Build the benchmark world into a folder: tiles, truth, station reports, GFS files and the catalog.

Layout of `out`:
    S2L2A/, DEM/, LULC/<tile>.tif      Sentinel-2 L2A + terrain + land cover (tm_weather.world.sentinel2)
    truth/<tile>.nc                   2.5 km T2M analyses around each tile (tm_weather.world.truth)
    isd/<usaf>-<wban>-<year>          station reports at the tile centres
    cache/gfs/YYYYMMDD/gfs.tHHz.pgrb2.0p25.fFFF(.idx)   GFS in Herbie's cache (tm_weather.world.gfs)
    catalog.yaml                      for `tm-weather ingest` (tm_weather.catalog schema)
Every random draw comes from one seed through independent `SeedSequence` streams, so a seed gives the same
bytes and another seed different ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.interpolate import RegularGridInterpolator

from tm_weather.world import constants as C
from tm_weather.world.fields import EvolvingField, ar1_series
from tm_weather.world.gfs import GFSGrid, error_sd, gfs_path, write_gfs_file, PRMSL_PA_PER_K, RH_PERCENT_PER_K
from tm_weather.world.landscape import Cells, Landscape, cells
from tm_weather.world.layout import Layout, TileSpec, plan
from tm_weather.world.physics import t2m_terms
from tm_weather.world.presets import SPLITS, Preset
from tm_weather.world.report import LAND_COVER_TERMS, Scores
from tm_weather.world.sentinel2 import ClassSpectra, TileGrid, make_tile, write_tile
from tm_weather.world.truth import truth_axes, write_isd, write_truth

CATALOG = "catalog.yaml"
#: Synoptic waves have wavelengths of 2..6 e-folding lengths (a plane wave's correlation J0(2 pi d / wavelength)
#: falls to 1/e at about a quarter wavelength, so these give the fitted e-folding distance on average).
SYNOPTIC_WAVELENGTHS = (2.0, 6.0)


@dataclass(frozen=True)
class Episode:
    """A run of consecutive world days with continuous weather: `days` `(day,)` datetime64[D]; `test` `(day,)`
    bool, the test split's days; `first_day`: index of `days[0]` among all world days; `hours` `(hour,)`
    datetime64[h] from the first day's 00Z to 12 h past the last day (the last run's f012)."""

    days: np.ndarray
    test: np.ndarray
    first_day: int

    @property
    def hours(self) -> np.ndarray:
        return np.datetime64(self.days[0], "h") + np.arange(len(self.days) * 24 + 13)

    def day_index(self, hour_index: np.ndarray) -> np.ndarray:
        """World-day index (into `Cells.fractions`) of episode hours, past-the-end hours kept on the last day."""
        return self.first_day + np.minimum(np.asarray(hour_index) // 24, len(self.days) - 1)


def build_world(out: Path, preset: Preset, seed: int) -> Scores:
    """Write the world for `preset` and `seed` under `out` (created); return the test-split scores."""
    out = Path(out)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    layout_rng, land_rng, tile_rng, weather_rng, noise_rng, gfs_rng = streams
    layout = plan(preset, layout_rng)
    landscape = Landscape.draw(land_rng)
    doys = _doy(layout.days)
    episodes, first = [], 0
    for days in layout.episodes:
        episodes.append(Episode(days, np.isin(days, layout.split_days("test")), first))
        first += len(days)
    synoptic = [
        EvolvingField.draw(
            weather_rng, len(e.days) + 2, C.ERA5_FIT.sd_daily, C.ERA5_FIT.ar1_daily,
            tuple(f * C.ERA5_FIT.corr_length_km for f in SYNOPTIC_WAVELENGTHS), C.SYNOPTIC_WAVES,
        )
        for e in episodes
    ]

    spectra = ClassSpectra.from_real_tiles()
    tile_files = {}
    for tile in layout.tiles:
        rasters = make_tile(TileGrid.centred(tile.lat, tile.lon), landscape, spectra, float(_doy(tile.acquired)), tile_rng)
        tile_files[tile.name] = write_tile(rasters, out, tile.name, tile.acquired)

    scores = Scores()
    test_cells = {}
    for number, tile in enumerate(layout.tiles):
        lat_ax, lon_ax = truth_axes(tile.lat, tile.lon, preset.truth_cells)
        glat, glon = np.meshgrid(lat_ax, lon_ax, indexing="ij")
        tcells = cells(landscape, glat.ravel(), glon.ravel(), C.TRUTH_RESOLUTION_DEG, C.TRUTH_SUBSAMPLES, doys)
        times, fields = [], []
        for episode, weather in zip(episodes, synoptic):
            steps = np.arange(len(episode.days) * 24)
            terms = _terms(episode, steps, tcells, weather(tcells.lat, tcells.lon, steps / 24))
            terms["noise"] = ar1_series(noise_rng, len(steps), tcells.lat.size, C.CELL_NOISE_AR1, C.CELL_NOISE_K)
            if tile.split == "test" and episode.test.any():
                scores.add_truth({k: v[episode.test[steps // 24]] for k, v in terms.items()})
                test_cells[(tile.name, episode.days[0])] = (tcells, sum(terms.values()), terms)
            times.append(episode.hours[steps])
            fields.append(sum(terms.values()).reshape(len(steps), *glat.shape))
        times, t2m = np.concatenate(times), np.concatenate(fields)
        write_truth(out / "truth" / f"{tile.name}.nc", times, lat_ax, lon_ax, t2m)
        centre = t2m[:, preset.truth_cells // 2, preset.truth_cells // 2]
        station = noise_rng.normal(0, C.STATION_NOISE_K, centre.shape) + centre
        write_isd(out / _isd_name(number, preset.year), _station_id(number), tile.lat, tile.lon,
                  float(tcells.elevation[tcells.lat.size // 2]), times, station)

    _write_gfs(out, layout, episodes, synoptic, landscape, doys, gfs_rng, test_cells, scores)
    _write_catalog(out, preset, layout, tile_files)
    return scores


def _doy(t: np.ndarray) -> np.ndarray:
    """Fractional day of year (1 = 1 January 00Z) of datetime64 values."""
    t = np.asarray(t)
    return (t - t.astype("datetime64[Y]")) / np.timedelta64(1, "D") + 1


def _terms(episode: Episode, steps: np.ndarray, where: Cells, synoptic: np.ndarray) -> dict[str, np.ndarray]:
    """The world's terms `(step, cell)` at episode hours `steps` on `where`'s cells (no noise)."""
    return t2m_terms(
        episode.hours[steps], where.lat, where.lon, where.elevation,
        where.fractions[episode.day_index(steps)], synoptic,
    )


def _write_gfs(
    out: Path, layout: Layout, episodes: list[Episode], synoptic: list[EvolvingField], landscape: Landscape,
    doys: np.ndarray, rng: np.random.Generator, test_cells: dict, scores: Scores,
) -> None:
    """Every GFS file of every run of the world's days; test runs also scored against the test truth cells."""
    grid = GFSGrid.covering(np.array([t.lat for t in layout.tiles]), np.array([t.lon for t in layout.tiles]))
    lat, lon = grid.points
    gcells = cells(landscape, lat, lon, C.GFS_RESOLUTION_DEG, C.GFS_SUBSAMPLES, doys)
    shape = (grid.lat.size, grid.lon.size)
    leads = np.asarray(C.GFS_LEADS)
    for episode, weather in zip(episodes, synoptic):
        anomaly = weather(lat, lon, np.arange(len(episode.hours)) / 24)  # (hour, point)
        for d, day in enumerate(episode.days):
            for cycle in C.GFS_CYCLES:
                steps = d * 24 + cycle + leads
                terms = _terms(episode, steps, gcells, anomaly[steps])
                model = sum(terms.values())
                error = EvolvingField.draw(rng, len(leads), 1.0, C.GFS_ERROR_LEAD_AR1, C.GFS_ERROR_FIELD_KM, 12)
                t2m = model + error_sd(leads)[:, None] * error(lat, lon, leads)
                init = np.datetime64(day, "h") + cycle
                for lead in leads:
                    fields = {
                        "prmsl": 101325.0 + PRMSL_PA_PER_K * terms["synoptic"][lead],
                        "orography": gcells.elevation,
                        "t2m": t2m[lead],
                        "rh2m": np.clip(75.0 + RH_PERCENT_PER_K * terms["diurnal"][lead], 5, 100),
                    }
                    write_gfs_file(gfs_path(out / "cache", init, int(lead)), grid, init, int(lead),
                                   {k: v.reshape(shape) for k, v in fields.items()})
                if not episode.test[d]:
                    continue
                scored = steps < 24 * len(episode.days)
                scored[scored] = episode.test[steps[scored] // 24]
                for key in [k for k in test_cells if k[1] == episode.days[0]]:
                    _score_run(scores, grid, gcells, t2m, terms, steps, scored, *test_cells[key])


def _score_run(scores: Scores, grid: GFSGrid, gcells: Cells, t2m: np.ndarray, terms: dict, steps: np.ndarray,
               scored: np.ndarray, tcells: Cells, truth: np.ndarray, truth_terms: dict) -> None:
    """Baseline errors of one run `t2m` `(lead, point)` (episode hours `steps`) at a test tile's truth cells
    (`truth`, `truth_terms`: `(hour, cell)`), at the leads marked `scored` (valid on a test day)."""
    land = sum(terms[t] for t in LAND_COVER_TERMS)
    stacked = np.concatenate([t2m, land, gcells.elevation[None]])  # (2 * lead + 1, point)
    cube = stacked.reshape(len(stacked), grid.lat.size, grid.lon.size)[:, ::-1].transpose(1, 2, 0)
    at = RegularGridInterpolator((grid.lat[::-1], grid.lon), cube)(np.column_stack([tcells.lat, tcells.lon])).T
    n = len(steps)
    gfs, gfs_land, orography = at[:n], at[n : 2 * n], at[-1]
    baseline = gfs + C.LAPSE_RATE * (tcells.elevation - orography)[None]
    true_land = sum(truth_terms[t] for t in LAND_COVER_TERMS)
    for lead in np.flatnonzero(scored):
        error = baseline[lead] - truth[steps[lead]]
        scores.add_baseline(int(lead), error, error + true_land[steps[lead]] - gfs_land[lead])


def _station_id(number: int) -> tuple[str, str]:
    """(USAF, WBAN) of the station at tile `number`: USAF 99xxxx (unassigned block), WBAN 99999 (none)."""
    return f"99{number:04d}", "99999"


def _isd_name(number: int, year: int) -> str:
    usaf, wban = _station_id(number)
    return f"isd/{usaf}-{wban}-{year}"


def _write_catalog(out: Path, preset: Preset, layout: Layout, tile_files: dict[str, dict[str, Path]]) -> None:
    """catalog.yaml in `tm_weather.catalog`'s schema; paths relative to `out`."""
    sources: dict = {
        "gfs": {"kind": "gfs", "product": "pgrb2.0p25", "cycles": list(C.GFS_CYCLES), "fxx": list(C.GFS_LEADS)},
        "gfs_analysis": {"kind": "gfs_analysis", "product": "pgrb2.0p25", "cycles": list(C.GFS_CYCLES)},
    }
    for tile in layout.tiles:
        sources[f"truth_{tile.name}"] = {"kind": "era5_file", "paths": [f"truth/{tile.name}.nc"]}
    sources["isd"] = {"kind": "isd", "paths": [_isd_name(i, preset.year) for i in range(len(layout.tiles))]}
    doc = {
        "store": "store/world.zarr",
        "cache_dir": "cache",
        "sources": sources,
        "sites": [{"name": t.name, "lat": t.lat, "lon": t.lon} for t in layout.tiles],
        "tiles": [_tile_entry(t, tile_files[t.name]) for t in layout.tiles],
        "splits": {
            split: {
                "tiles": [t.name for t in layout.tiles if t.split == split],
                "start": str(layout.split_days(split).min()),
                "end": str(layout.split_days(split).max()),
            }
            for split in SPLITS
        },
    }
    header = f"# tm-weather benchmark world: preset {preset.name} (see docs/world.md). Generated; do not edit.\n"
    (out / CATALOG).write_text(header + yaml.safe_dump(doc, sort_keys=False))


def _tile_entry(tile: TileSpec, files: dict[str, Path]) -> dict:
    return {
        "name": tile.name,
        "s2": str(files["S2L2A"]),
        "dem": str(files["DEM"]),
        "lulc": str(files["LULC"]),
        "time": str(np.datetime64(tile.acquired, "s")) + "Z",
    }
