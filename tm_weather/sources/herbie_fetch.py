"""One 2 m temperature GRIB2 message of a NOAA model, fetched through Herbie: from the cache when it is there,
else by `.idx` byte range from the catalog's sources. Shared by `gfs`, `nbm` and `rtma_urma`.

Where Herbie looks (herbie-data 2026.10, `herbie/core.py`; `<file>` is the last part of the model template's URL):

- the full file: `<save_dir>/<model>/<YYYYMMDD of the run>/<file>`, e.g. `gfs/20240110/gfs.t12z.pgrb2.0p25.f120`,
  `gfs/20110110/gfs_3_20110110_1200_120.grb2` (GFS runs before 2021: NCEI products "0.5-degree"/"1.0-degree"),
  `urma/20240110/urma2p5.t12z.2dvaranl_ndfd.grb2_wexp`;
- its wgrib2 inventory: `<file>.idx` beside it (also `.grb2.inv` / `.grb2.idx` forms, per template); Herbie saves
  there the inventory it downloads, and `tm_weather.grib.write_idx` writes it there for a local file;
- the subset it cuts: `subset_<hash>__<file>` beside them, the hash made of the run date, the lead time and the
  matching message numbers, so finding it needs the inventory.

`Herbie(...)` probes remote sources as soon as it is built (HTTP HEAD requests without a timeout) unless the full
file is in the cache; an empty `priority` makes it search no remote source at all. So we first build it with
`priority=[]` (cache only: no network touched), and only if the cache lacks the inventory or the data build it
again with the catalog's priority. Herbie gives those probes no timeout (its range downloads get 30 s): behind a
firewall that drops packets each waits for the system's connect timeout (about 2 min on Linux), and the first
failure ends the fetch with an `InputError`.

Herbie creates `~/.config/herbie/` (config and a custom-template stub that it then puts on `sys.path`) and prints a
banner the first time it is imported, unless `HERBIE_CONFIG_PATH` names a folder holding a `config.toml`: we point it
at tm-weather's own folder with a quiet config, unless the user has set it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import requests
import xarray as xr

from tm_weather.catalog import Catalog, GFSConfig, NBMConfig
from tm_weather.errors import InputError
from tm_weather.grib import T2M_SEARCH, read_t2m_files, t2m_times
from tm_weather.sources.base import ANALYSIS, FORECAST

log = logging.getLogger(__name__)

_CONFIG_DIR = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "tm-weather" / "herbie"
_QUIET_CONFIG = """# Herbie configuration used by tm-weather (which passes save_dir, priority and verbose on every call).
[default]
model = "gfs"
fxx = 0
save_dir = "{save_dir}"
overwrite = false
verbose = false
"""


def _use_quiet_herbie_config() -> None:
    """Point HERBIE_CONFIG_PATH at tm-weather's folder holding a quiet config (unless the user set it)."""
    if "HERBIE_CONFIG_PATH" in os.environ:
        return
    try:
        if not (_CONFIG_DIR / "config.toml").exists():
            _CONFIG_DIR.mkdir(parents=True, exist_ok=True)
            (_CONFIG_DIR / "config.toml").write_text(_QUIET_CONFIG.format(save_dir=_CONFIG_DIR / "data"))
    except OSError as e:  # an unwritable home: Herbie then warns once and uses its defaults
        log.warning("cannot write %s (%s): Herbie will use its own config", _CONFIG_DIR, e)
        return
    os.environ["HERBIE_CONFIG_PATH"] = str(_CONFIG_DIR)


_use_quiet_herbie_config()

from herbie import Herbie  # noqa: E402  (after HERBIE_CONFIG_PATH is set)


def fetch_message(
    model: str, product: str, run: np.datetime64, fxx: int, search: str, priority: list[str], save_dir: Path
) -> Path:
    """The GRIB2 file holding only the messages of `model`'s `product` (run `run`, lead `fxx` hours) that match the
    wgrib2-inventory regex `search`, cut by Herbie into the cache `save_dir`.

    From the cache alone when it holds the inventory and either the full file or the subset; otherwise from the
    `priority` sources (Herbie source names, e.g. "aws"). Raises `InputError` naming the cache path it looked at
    when the data is neither cached nor found or reachable remotely (an empty `priority` means cache only)."""
    cached = _herbie(model, product, run, fxx, [], save_dir)
    if cached.idx is not None and (cached.grib is not None or cached.get_localFilePath(search).exists()):
        return _subset(cached, search)
    missing, field = cached.get_localFilePath(), f"message {search!r}"
    if not priority:
        raise InputError(missing, field, "the file and its .idx in the cache (priority [] means cache only)", "none")
    try:
        remote = _herbie(model, product, run, fxx, priority, save_dir)
        if remote.grib is None or remote.idx is None:
            raise InputError(missing, field, f"the file and its .idx in the cache or on one of {priority}", "none")
        return _subset(remote, search)
    except (requests.RequestException, RuntimeError) as e:  # Herbie wraps failed range requests in RuntimeError
        raise InputError(missing, field, f"the file in the cache or reachable on one of {priority}", str(e)) from e


def _herbie(model: str, product: str, run: np.datetime64, fxx: int, priority: list[str], save_dir: Path) -> Herbie:
    """Herbie for one run and lead time; Herbie's own checks (product known for that date...) become `InputError`."""
    try:
        return Herbie(
            pd.Timestamp(run), model=model, product=product, fxx=fxx, priority=priority, save_dir=save_dir, verbose=False
        )
    except AssertionError as e:  # Herbie validates its arguments with assert
        raise InputError(f"Herbie model {model!r}", f"run {pd.Timestamp(run)} product {product!r}", str(e)) from e


def _subset(herbie: Herbie, search: str) -> Path:
    """Cut (or re-use) the subset of `herbie`'s file matching `search`."""
    if herbie.inventory(search).empty:
        raise InputError(herbie.idx, f"message {search!r}", "a matching line in the GRIB2 inventory", "none")
    path = herbie.get_localFilePath(search)
    cached = path.exists()
    # Herbie prints "Created directory" even when not verbose: make it first.
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        herbie.download(search, verbose=False, errors="raise")
    except BaseException:
        if not cached:  # Herbie writes the subset in place: never leave a truncated one in the cache
            path.unlink(missing_ok=True)
        raise
    log.info("%s: %s (run %s, +%d h) from %s", path, search, herbie.date, herbie.fxx, herbie.grib_source)
    return path


def cycle_times(start: np.datetime64, end: np.datetime64, hours: Iterable[int]) -> np.ndarray:
    """The times at the UTC `hours` of each day that fall in [start, end], sorted, as `datetime64[ns]`."""
    days = pd.date_range(pd.Timestamp(start).floor("D"), pd.Timestamp(end), freq="D").values
    times = (days[:, None] + np.array(sorted(set(hours)), dtype="timedelta64[h]")).ravel().astype("datetime64[ns]")
    return times[(times >= np.datetime64(start, "ns")) & (times <= np.datetime64(end, "ns"))]


class HerbieSource:
    """What the Herbie-backed sources share (`tm_weather.sources.base.RunSource`): the model and product, the runs'
    UTC `hours`, the `priority` of remote sources and the cache folder `save_dir` (Herbie's save_dir). `search`:
    the inventory regex that selects the T2M message of a file."""

    search = T2M_SEARCH
    remote = True

    def __init__(self, model: str, product: str, hours: Iterable[int], priority: list[str], save_dir: Path):
        self.name = model
        self.model, self.product, self.hours = model, product, list(hours)
        self.priority, self.save_dir = list(priority), save_dir

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """The run times the schedule (`hours` of every day) puts in [start, end]."""
        return cycle_times(start, end, self.hours)

    def fetch(self, run: np.datetime64, fxx: int) -> Path:
        """The cached GRIB2 subset holding T2M of run `run` at lead `fxx` hours (see `fetch_message`). Raises
        `InputError` if it holds another run or lead time (a file misplaced in the cache)."""
        run = np.datetime64(run, "ns")
        path = fetch_message(self.model, self.product, run, fxx, self.search, self.priority, self.save_dir)
        inits, valids = t2m_times(path)
        if list(zip(inits, valids)) != [(run, run + np.timedelta64(fxx, "h"))]:
            found = ", ".join(f"run {pd.Timestamp(i)} +{(v - i) // np.timedelta64(1, 'h')} h" for i, v in zip(inits, valids))
            raise InputError(path, "2 m temperature run and lead time", f"run {pd.Timestamp(run)} +{fxx} h", found)
        return path

    def fields(self, runs: Sequence[tuple[np.datetime64, int]]) -> xr.DataArray:
        """t2m `(init_time, lead_time, y, x)` of the (run, lead h) pairs `runs` (NaN at pairs not asked for)."""
        return read_t2m_files([self.fetch(run, fxx) for run, fxx in runs], "forecast")


class HerbieAnalysis(HerbieSource):
    """An analysis through Herbie: t2m `(time, y, x)`, the lead-0 field of the run at each valid time."""

    dims = ANALYSIS
    fxx = [0]

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        return read_t2m_files([self.fetch(t, 0) for t in times], "analysis")


class HerbieForecast(HerbieSource):
    """A forecast through Herbie: `source(init_times)` -> t2m `(init_time, lead_time, y, x)` at the configured
    `fxx` lead hours, with `valid_time(init_time, lead_time)`; `times(start, end)` gives the configured cycles in
    the window."""

    dims = FORECAST

    def __init__(self, model: str, config: GFSConfig | NBMConfig, catalog: Catalog):
        super().__init__(model, config.product, config.cycles, config.priority, catalog.path(catalog.cache_dir))
        self.fxx = sorted(set(config.fxx))

    def __call__(self, init_times: Sequence[np.datetime64]) -> xr.DataArray:
        return self.fields([(t, fxx) for t in init_times for fxx in self.fxx])
