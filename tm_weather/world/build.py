"""Build the benchmark world into a folder: tiles, truth, station reports, GFS files and the catalog.

Layout of `out`:
    S2L2A/, DEM/, LULC/, SCL/<tile>.tif   Sentinel-2 L2A scene + terrain + land cover + scene classification
    truth/<tile>.nc                   hourly 40 m T2M on the tile's UTM grid over its visit (tm_weather.world.truth)
    isd/<usaf>-<wban>                 station reports at the tile locations' centres
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
from pyproj import Transformer
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import gaussian_filter

from tm_weather.climatology import Climatology, packaged
from tm_weather.world import constants as C
from tm_weather.world.fields import EvolvingField, ar1_series
from tm_weather.world.gfs import PRMSL_PA_PER_K, RH_PERCENT_PER_K, GFSGrid, GFSWriter, error_sd, gfs_path
from tm_weather.world.landscape import Landscape, Region, grid_cells, truth_surface
from tm_weather.world.layout import Layout, Location, TileSpec, Visit, plan
from tm_weather.world.physics import SURFACE_TERMS, TERMS, WITHIN_TILE_TERMS, continentality, synoptic_scale, t2m_terms
from tm_weather.world.presets import SPLITS, Preset
from tm_weather.world.report import REPORT_LEADS, Scores
from tm_weather.world.sentinel2 import PIXEL_M, TILE_SIZE, ClassSpectra, TileGrid, draw_texture, make_scene, write_tile
from tm_weather.world.truth import TruthGrid, write_isd, write_truth

CATALOG = "catalog.yaml"
#: Synoptic waves have wavelengths of 2..6 e-folding lengths (a plane wave's correlation J0(2 pi d / wavelength)
#: falls to 1/e at about a quarter wavelength, so these give the fitted e-folding distance on average).
SYNOPTIC_WAVELENGTHS = (2.0, 6.0)


@dataclass(frozen=True)
class Place:
    """A tile location's static surface: the S-2 `tile` grid, the `truth` grid, and on the truth's 10 m
    sub-samples `(Y, X)`: `height`, `reference` (m), static LULC `codes`, `patches` (snow field, K); `texture`
    `(224, 224)` of the spectra picks; `cell_lat`, `cell_lon` `(cell,)` of the truth cells; `dem` `(cell,)` m."""

    tile: TileGrid
    truth: TruthGrid
    height: np.ndarray
    reference: np.ndarray
    codes: np.ndarray
    patches: np.ndarray
    texture: np.ndarray
    cell_lat: np.ndarray
    cell_lon: np.ndarray
    dem: np.ndarray

    @classmethod
    def survey(cls, loc: Location, region: Region, landscape: Landscape, rng: np.random.Generator) -> Place:
        tile = TileGrid.centred(loc.lat, loc.lon)
        truth = TruthGrid.around(tile.crs, tile.transform.c, tile.transform.f, TILE_SIZE, PIXEL_M)
        to_lonlat = Transformer.from_crs(tile.crs, "EPSG:4326", always_xy=True)
        slon, slat = to_lonlat.transform(*truth.samples(PIXEL_M))
        cx, cy = np.meshgrid(truth.x, truth.y)
        clon, clat = to_lonlat.transform(cx, cy)
        height = landscape.elevation(region, slat, slon)
        b = truth.block
        dem = height.reshape(truth.y.size, b, truth.x.size, b).mean(axis=(1, 3)).ravel()
        return cls(tile, truth, height, landscape.reference(region, slat, slon), landscape.static_class(region, slat, slon),
                   landscape.snow_patches.on_grid(slat, slon), draw_texture(tile.lat, tile.lon, rng), clat.ravel(),
                   clon.ravel(), dem)

    @property
    def inner(self) -> tuple[slice, slice]:
        """The tile's pixels among the 10 m sub-samples."""
        m = C.TRUTH_MARGIN_CELLS * self.truth.block
        return slice(m, m + TILE_SIZE), slice(m, m + TILE_SIZE)


def build_world(out: Path, preset: Preset, seed: int, clim: Climatology | None = None,
                terms_dir: Path | None = None) -> Scores:
    """Write the world for `preset` and `seed` under `out` (created) with climatology `clim` (default: the
    packaged ERA5 copy); return the test-split scores. With `terms_dir`, also write there each test tile's truth
    terms that vary inside the tile (`write_terms`), for `benchmarks/field_terms.py`."""
    out = Path(out)
    clim = clim or packaged()
    layout_rng, land_rng, tile_rng, weather_rng, noise_rng, gfs_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    layout = plan(preset, layout_rng)
    landscape = Landscape.draw(land_rng)
    spectra = ClassSpectra.from_real_tiles()
    scores = Scores()
    tile_files: dict[str, dict[str, Path]] = {}
    stations: dict[int, list[tuple[np.ndarray, np.ndarray, float]]] = {}
    for r, region in enumerate(layout.regions):
        mine = [i for i, loc in enumerate(layout.locations) if loc.region == r]
        places = {i: Place.survey(layout.locations[i], region, landscape, tile_rng) for i in mine}
        for v, visit in enumerate(layout.visits):
            if visit.region != r:
                continue
            world = VisitWorld.draw(visit, region, [layout.locations[i] for i in mine], landscape, clim, weather_rng)
            scored = []
            for tile in [t for t in layout.tiles if t.visit == v]:
                loc, place = layout.locations[tile.location], places[tile.location]
                truth, terms = world.truth(loc, place, noise_rng)
                write_truth(out / "truth" / f"{tile.name}.nc", world.truth_hours, place.truth, truth)
                if terms_dir is not None and loc.split == "test":
                    write_terms(Path(terms_dir) / f"{tile.name}.npz", world.truth_hours, terms, truth.shape)
                day = int((tile.acquired.astype("datetime64[D]") - visit.days[0]).astype(int))
                snow = world.snow(loc, place)[day][place.inner]
                scene = make_scene(place.tile, place.height[place.inner], place.codes[place.inner], snow, place.texture,
                                   float(clim(loc.lat, loc.lon, tile.acquired)), spectra, tile_rng)
                tile_files[tile.name] = write_tile(scene, out, tile.name, tile.acquired)
                centre = truth.reshape(len(truth), -1)[:, truth[0].size // 2 + truth.shape[2] // 2]
                stations.setdefault(tile.location, []).append((world.truth_hours, centre, float(place.dem.mean())))
                if loc.split == "test":
                    scored.append((place, terms))
                    lapse = C.LAPSE_RATE * (place.dem - place.dem.mean())
                    scores.add_truth({k: terms[k][world.test_hours] for k in TERMS}, lapse)
            world.write_gfs(out, gfs_rng, scored, scores)
    _write_stations(out, layout, stations, noise_rng)
    _write_catalog(out, preset, layout, tile_files)
    return scores


def write_terms(path: Path, hours: np.ndarray, terms: dict[str, np.ndarray], shape: tuple[int, int, int]) -> None:
    """Save a tile's `WITHIN_TILE_TERMS` of `terms` (each `(hour, cell)` or broadcastable) as float32 `(hour, y,
    x)` K on its truth grid (`shape`), with `hours` `(hour,)` datetime64[h] as int64, to npz `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.broadcast_to(terms[k], (shape[0], shape[1] * shape[2])).reshape(shape).astype(np.float32)
              for k in WITHIN_TILE_TERMS}
    np.savez(path, hours=np.asarray(hours, "datetime64[h]").astype(np.int64), **arrays)


@dataclass
class VisitWorld:
    """One visit's weather and GFS: `hours` `(hour,)` every GFS valid hour (from the day before's 12Z to the last
    day's 18Z + 12 h), `truth_hours` the visit days' hours; `synoptic` the weather field; `grid`, `cells` GFS's
    grid and cells; `model` `(hour, point)` GFS's grid-scale T2M and `surface` its surface terms' sum."""

    visit: Visit
    region: Region
    clim: Climatology
    landscape: Landscape
    synoptic: EvolvingField
    grid: GFSGrid
    orography: np.ndarray
    model: np.ndarray
    model_terms: dict[str, np.ndarray]

    @classmethod
    def draw(cls, visit: Visit, region: Region, locations: list[Location], landscape: Landscape, clim: Climatology,
             rng: np.random.Generator) -> VisitWorld:
        n_days = len(visit.days)
        synoptic = EvolvingField.draw(
            rng, n_days + 3, C.ERA5_FIT.sd_daily * synoptic_scale(region.lat), C.ERA5_FIT.ar1_daily,
            tuple(f * C.ERA5_FIT.corr_length_km for f in SYNOPTIC_WAVELENGTHS), C.SYNOPTIC_WAVES,
        )
        grid = GFSGrid.covering(np.array([l.lat for l in locations]), np.array([l.lon for l in locations]))
        lat, lon = grid.points
        days = visit.days[0] + np.arange(-1, n_days + 1)  # the day before .. the day after
        cells = grid_cells(landscape, clim, region, lat, lon, (grid.lat.size, grid.lon.size), days)
        hours = cls.gfs_hours(visit)
        offset = (hours - np.datetime64(days[0], "h")).astype(np.float64)
        terms = t2m_terms(
            hours, lat, lon, clim, synoptic(lat, lon, offset / 24), continentality(clim, lat, lon) * region.aridity,
            cells.surface, (offset // 24).astype(int), C.GFS_DIURNAL_AMPLITUDE_ERROR, C.SNOW_K + C.GFS_SNOW_BIAS_K,
        )
        model = sum(terms.values())
        return cls(visit, region, clim, landscape, synoptic, grid, cells.orography, model,
                   {k: terms[k] for k in SURFACE_TERMS})

    @staticmethod
    def gfs_hours(visit: Visit) -> np.ndarray:
        start = np.datetime64(visit.days[0], "h") - np.timedelta64(24 - C.GFS_PREVIOUS_DAY_CYCLES[0], "h")
        end = np.datetime64(visit.days[-1], "h") + np.timedelta64(C.GFS_CYCLES[-1] + C.GFS_LEADS[-1], "h")
        return np.arange(start, end + np.timedelta64(1, "h"))

    @property
    def truth_hours(self) -> np.ndarray:
        return np.datetime64(self.visit.days[0], "h") + np.arange(24 * len(self.visit.days))

    @property
    def test_hours(self) -> np.ndarray:
        """`(hour,)` bool: which `truth_hours` lie on the visit's test days."""
        return np.repeat(np.asarray(self.visit.splits) == "test", 24)

    def snow(self, loc: Location, place: Place) -> np.ndarray:
        """Snow cover `(day, Y, X)` bool on the visit's days at the place's sub-samples."""
        return self.landscape.snowy(self.clim, self.region, loc.lat, loc.lon, place.height - place.reference,
                                    self.visit.days, place.patches)

    def truth(self, loc: Location, place: Place, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(t2m `(hour, y, x)` K on the truth grid, every term `(hour, cell)`) over `truth_hours`."""
        hours = self.truth_hours
        surface = truth_surface(place.height, place.reference, place.codes, self.snow(loc, place), place.truth.block, PIXEL_M)
        lat, lon = np.array([loc.lat]), np.array([loc.lon])
        offset = (hours - np.datetime64(self.visit.days[0] - 1, "h")).astype(np.float64)
        terms = t2m_terms(
            hours, lat, lon, self.clim, self.synoptic(lat, lon, offset / 24),
            continentality(self.clim, lat, lon) * self.region.aridity, surface, np.arange(len(hours)) // 24,
        )
        shape = (len(hours), place.truth.y.size, place.truth.x.size)
        noise = gaussian_filter(ar1_series(rng, len(hours), shape[1] * shape[2], C.CELL_NOISE_AR1, 1.0).reshape(shape),
                                (0, C.MIXING_M / C.TRUTH_PIXEL_M, C.MIXING_M / C.TRUTH_PIXEL_M), mode="nearest")
        terms["noise"] = (C.CELL_NOISE_K / noise.std() * noise).reshape(len(hours), -1)
        t2m = sum(terms[t] for t in TERMS)
        return t2m.reshape(shape), terms

    def write_gfs(self, out: Path, rng: np.random.Generator, scored: list[tuple[Place, dict]], scores: Scores) -> None:
        """Every run's files (the day before's `GFS_PREVIOUS_DAY_CYCLES`, then each day's `GFS_CYCLES`); the test
        tiles in `scored` (place, truth terms) scored against each run's leads valid on the visit's days."""
        first = np.datetime64(self.visit.days[0], "h")
        inits = [first - np.timedelta64(24 - c, "h") for c in C.GFS_PREVIOUS_DAY_CYCLES]
        inits += [np.datetime64(d, "h") + np.timedelta64(c, "h") for d in self.visit.days for c in C.GFS_CYCLES]
        hours = self.gfs_hours(self.visit)
        with GFSWriter(self.grid) as writer:
            for init in inits:
                self._run(out, writer, rng, init, hours, scored, scores)

    def _run(self, out: Path, writer: GFSWriter, rng: np.random.Generator, init: np.datetime64, hours: np.ndarray,
             scored: list[tuple[Place, dict]], scores: Scores) -> None:
        """One run's files (all leads); its leads valid on the visit's test days scored at the test tiles."""
        lat, lon = self.grid.points
        shape = (self.grid.lat.size, self.grid.lon.size)
        leads = np.asarray(C.GFS_LEADS)
        steps = int((init - hours[0]).astype(int)) + leads  # hours[0] is the day before's 12Z: node 0.5
        error = EvolvingField.draw(rng, len(leads), 1.0, C.GFS_ERROR_LEAD_AR1, C.GFS_ERROR_FIELD_KM, 12)
        t2m = self.model[steps] + error_sd(leads)[:, None] * error(lat, lon, leads)
        prmsl = 101325.0 + PRMSL_PA_PER_K * self.synoptic(lat, lon, (steps + 12) / 24)
        rh2m = np.clip(75.0 + RH_PERCENT_PER_K * (self.model[steps] - self.model[steps].mean(0)), 5, 100)
        for lead in leads:
            fields = {"prmsl": prmsl[lead], "orography": self.orography, "t2m": t2m[lead], "rh2m": rh2m[lead]}
            writer.write(gfs_path(out / "cache", init, int(lead)), init, int(lead),
                         {k: v.reshape(shape) for k, v in fields.items()})
        valid = hours[steps]
        index = (valid - np.datetime64(self.visit.days[0], "h")).astype(int)
        inside = (index >= 0) & (index < len(self.test_hours))
        on_day = np.flatnonzero(inside & self.test_hours[np.where(inside, index, 0)])
        for place, terms in scored:
            self._score(scores, place, terms, t2m, steps, valid, on_day)

    def _score(self, scores: Scores, place: Place, terms: dict, t2m: np.ndarray, steps: np.ndarray,
               valid: np.ndarray, on_day: np.ndarray) -> None:
        """Baseline errors of one run `t2m` `(lead, point)` at a test tile's truth cells, at the leads `on_day`."""
        gfs_surface = sum(self.model_terms[k] for k in SURFACE_TERMS)[steps]
        stacked = np.concatenate([t2m, gfs_surface, self.orography[None]])  # (2 lead + 1, point)
        cube = stacked.reshape(len(stacked), self.grid.lat.size, self.grid.lon.size)[:, ::-1].transpose(1, 2, 0)
        at = RegularGridInterpolator((self.grid.lat[::-1], self.grid.lon), cube)(np.column_stack([place.cell_lat, place.cell_lon])).T
        n = len(steps)
        gfs, gfs_land, orography = at[:n], at[n : 2 * n], at[-1]
        lapse = gfs + C.LAPSE_RATE * (place.dem - orography)[None]
        truth = sum(terms[t] for t in TERMS)
        true_surface = sum(terms[t] for t in SURFACE_TERMS)
        index = (valid - np.datetime64(self.visit.days[0], "h")).astype(int)
        for lead in on_day:
            h = index[lead]
            oracle = lapse[lead] + true_surface[h] - gfs_land[lead]
            errors = {"gfs": gfs[lead] - truth[h], "gfs_lapse": lapse[lead] - truth[h], "oracle": oracle - truth[h]}
            if lead in REPORT_LEADS:
                scores.add_error(f"gfs_lapse_f{lead:03d}", errors["gfs_lapse"])
                scores.add_error(f"oracle_f{lead:03d}", errors["oracle"])
            if lead >= C.GFS_CYCLES[1] - C.GFS_CYCLES[0]:
                continue  # a later run covers this hour
            for key, e in errors.items():
                scores.add_error(key, e)
            anomaly = lambda f: f - f.mean()  # noqa: E731
            scores.add_error("space_gfs_lapse", anomaly(lapse[lead]) - anomaly(truth[h]))
            scores.add_error("space_oracle", anomaly(oracle) - anomaly(truth[h]))


def _station_id(number: int) -> tuple[str, str]:
    """(USAF, WBAN) of the station at location `number`: USAF 99xxxx (unassigned block), WBAN 99999 (none)."""
    return f"99{number:04d}", "99999"


def _isd_name(number: int) -> str:
    usaf, wban = _station_id(number)
    return f"isd/{usaf}-{wban}"


def _write_stations(out: Path, layout: Layout, stations: dict, rng: np.random.Generator) -> None:
    """One ISD file per location: the centre truth cell at every hour of its visits + a report error."""
    for number, series in sorted(stations.items()):
        loc = layout.locations[number]
        times = np.concatenate([t for t, _, _ in series])
        values = np.concatenate([v for _, v, _ in series])
        order = np.argsort(times, kind="stable")
        reports = values[order] + rng.normal(0, C.STATION_NOISE_K, values.shape)
        write_isd(out / _isd_name(number), _station_id(number), loc.lat, loc.lon, series[0][2], times[order], reports)


def _write_catalog(out: Path, preset: Preset, layout: Layout, tile_files: dict[str, dict[str, Path]]) -> None:
    """catalog.yaml in `tm_weather.catalog`'s schema; paths relative to `out`."""
    sources: dict = {
        "gfs": {"kind": "gfs", "product": "pgrb2.0p25", "cycles": list(C.GFS_CYCLES), "fxx": list(C.GFS_LEADS)},
        "gfs_analysis": {"kind": "gfs_analysis", "product": "pgrb2.0p25", "cycles": list(C.GFS_CYCLES)},
    }
    for tile in layout.tiles:
        sources[f"truth_{tile.name}"] = {"kind": "field_file", "paths": [f"truth/{tile.name}.nc"]}
    located = sorted({t.location for t in layout.tiles})
    sources["isd"] = {"kind": "isd", "paths": [_isd_name(n) for n in located]}
    doc = {
        "store": "store/world.zarr",
        "cache_dir": "cache",
        "sources": sources,
        "sites": [{"name": layout.locations[n].name, "lat": layout.locations[n].lat, "lon": layout.locations[n].lon}
                  for n in located],
        "tiles": [_tile_entry(t, tile_files[t.name]) for t in layout.tiles],
        "splits": {
            split: {
                "tiles": [t.name for t in layout.tiles_of(split)],
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
        "scl": str(files["SCL"]),
        "time": str(np.datetime64(tile.acquired, "s")) + "Z",
    }
