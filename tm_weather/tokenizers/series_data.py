"""Training and evaluation windows for the series tokenizers, from an hourly ERA5 T2M file.

The real fixture `tests/data/era5/era5_t2m_uk_2019-03-01_21.grib` holds 1,617 grid points x 504 hours
(2019-03-01 00Z .. 03-21 23Z).

- Hourly: its last 6 days (from `HOLDOUT_START`, 2019-03-16) are held out in time: training windows (any start
  hour) never touch them, evaluation windows tile the held-out days from 00Z.
- Daily: 21 days cannot hold out days in time and still leave whole multi-week windows, so the daily tokenizer
  is held out in space instead: grid points south of `DAILY_HOLDOUT_LAT` (51.0 N, a 196-point band over the
  Channel and southern England) are never trained on; evaluation is each such point's latest window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.tokenizers.fsq import codebook_usage, perplexity
from tm_weather.shipped import FIXTURES

#: The real ERA5 fixture shipped with the repository.
ERA5_FIXTURE = FIXTURES / "era5" / "era5_t2m_uk_2019-03-01_21.grib"
HOLDOUT_START = np.datetime64("2019-03-16")
DAILY_HOLDOUT_LAT = 51.0
#: A tokenizer with a level grid is also evaluated on `SWEEP_WINDOWS` held-out windows (drawn at random, seeded)
#: moved to other climates: their daily means drawn uniformly within each of these bands (K; together 200..330 K,
#: so at every offset from the grid), and their anomalies scaled by these factors.
SWEEP_WINDOWS = 2500
SWEEP_BANDS_K = ((200.0, 226.0), (226.0, 252.0), (252.0, 278.0), (278.0, 304.0), (304.0, 330.0))
SWEEP_AMPLITUDES = (0.5, 2.0)


@dataclass(frozen=True)
class HourlySeries:
    """Hourly T2M at grid points: `values (points, hours)` float32 K, `times (hours,)` datetime64[ns] UTC,
    `lat`, `lon (points,)` degrees."""

    values: np.ndarray
    times: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def split(self, holdout_start: np.datetime64 = HOLDOUT_START) -> tuple[HourlySeries, HourlySeries]:
        """(before `holdout_start`, from `holdout_start` on)."""
        cut = int(np.searchsorted(self.times, holdout_start))
        if cut == 0 or cut == len(self.times):
            inside = f"inside {self.times[0]} .. {self.times[-1]}"
            raise InputError("hourly series", "holdout_start", inside, str(holdout_start))
        before = HourlySeries(self.values[:, :cut], self.times[:cut], self.lat, self.lon)
        return before, HourlySeries(self.values[:, cut:], self.times[cut:], self.lat, self.lon)

    def days(self) -> np.ndarray:
        """Whole UTC days `(points, days, 24)` K; the series must start at 00Z and hold whole days."""
        if len(self.times) % 24 or (self.times[0] - self.times[0].astype("datetime64[D]")) != np.timedelta64(0):
            found = f"{self.times[0]}, {len(self.times)} h"
            raise InputError("hourly series", "times", "whole UTC days starting at 00Z", found)
        return self.values.reshape(self.values.shape[0], -1, 24)

    def daily(self) -> np.ndarray:
        """Daily mean, min, max `(points, 3, days)` K over whole UTC days (all 24 hours present)."""
        d = self.days()
        return np.stack([d.mean(-1), d.min(-1), d.max(-1)], axis=1).astype(np.float32)


def load_hourly(path: str | Path = ERA5_FIXTURE) -> HourlySeries:
    """Read an hourly ERA5 T2M file (GRIB or netCDF, via `tm_weather.sources.era5`) -> `HourlySeries` of every
    grid point; missing values are refused (a window with a gap cannot be tokenized)."""
    from tm_weather.sources.era5 import read_era5_file

    t2m = read_era5_file(path).transpose("time", "y", "x")
    values = t2m.values.reshape(t2m.shape[0], -1).T.astype(np.float32)
    if np.isnan(values).any():
        raise InputError(path, "t2m", "no missing values", f"{int(np.isnan(values).sum())} NaN")
    lat, lon = np.meshgrid(t2m["y"].values, t2m["x"].values, indexing="ij")
    times = t2m["time"].values.astype("datetime64[ns]")
    return HourlySeries(np.ascontiguousarray(values), times, lat.ravel(), lon.ravel())


def random_windows(values: torch.Tensor, length: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """`values (points, c, time)` -> `batch` windows `(batch, c, length)` at random points and start times."""
    points, _, n = values.shape
    if n < length:
        raise InputError("series", "length", f"at least {length} time steps", str(n))
    i = torch.randint(0, points, (batch,), generator=gen)
    j = torch.randint(0, n - length + 1, (batch,), generator=gen)
    return values[i[:, None], :, j[:, None] + torch.arange(length)].transpose(1, 2)


class SeriesTask:
    """Training windows drawn at random from `train (points, c, time)` K, evaluated on `test (n, c, length)` K."""

    def __init__(self, train: np.ndarray, test: np.ndarray, length: int, data: str):
        self.train = torch.from_numpy(np.ascontiguousarray(train))
        self.test = torch.from_numpy(np.ascontiguousarray(test))
        self.length = length
        self.data = data  # one line for the model card

    def draw(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        """A random training batch `(batch, c, length)` K."""
        return random_windows(self.train, self.length, batch, gen)

    @torch.no_grad()
    def evaluate(self, model) -> dict:
        """Held-out reconstruction error (K) and codebook use of `model` (a `SeriesTokenizer`)."""
        indices = model.encode(self.test)
        err = model.decode(indices) - self.test
        size = model.fsq.codebook_size
        rmse = round(float(err.pow(2).mean().sqrt()), 4)
        metrics = {
            "headline": ["RMSE K", rmse],
            "rmse_k": rmse,
            "rmse_k_per_channel": [round(float(v), 4) for v in err.pow(2).mean(dim=(0, 2)).sqrt()],
            "max_abs_error_k": round(float(err.abs().max()), 3),
            "codebook_usage": round(codebook_usage(indices, size), 4),
            "perplexity": round(perplexity(indices, size), 1),
            "test_windows": int(self.test.shape[0]),
        }
        return metrics | (level_sweep(model, self.test) if model.config.level_digits else {})


@torch.no_grad()
def level_sweep(model, test: torch.Tensor) -> dict:
    """RMSE (K) of `model` on `SWEEP_WINDOWS` of the held-out windows `test (n, 1, t)` K (at random, seeded) moved
    to other climates: with their daily means drawn uniformly within each of `SWEEP_BANDS_K`, and with their
    anomalies about the mean scaled by each of `SWEEP_AMPLITUDES` at daily means drawn uniformly over 200..330 K."""
    gen = torch.Generator().manual_seed(0)
    test = test[torch.randperm(len(test), generator=gen)[:SWEEP_WINDOWS]]
    anomaly = test - test.mean(dim=(1, 2), keepdim=True)

    def rmse(x: torch.Tensor) -> float:
        return round(float((model.decode(model.encode(x)) - x).pow(2).mean().sqrt()), 4)

    def levels(lo: float, hi: float) -> torch.Tensor:
        return torch.empty(len(test), 1, 1).uniform_(lo, hi, generator=gen)

    return {
        "rmse_k_in_band": {f"{lo:g}-{hi:g}": rmse(anomaly + levels(lo, hi)) for lo, hi in SWEEP_BANDS_K},
        "rmse_k_at_amplitude": {f"x{a:g}": rmse(levels(200.0, 330.0) + a * anomaly) for a in SWEEP_AMPLITUDES},
    }


class HourlyTask(SeriesTask):
    """Hourly windows of the training days; half of each batch has its anomalies about the window's mean scaled
    by a factor drawn log-uniformly in `1 / amplitude .. amplitude`, so a tokenizer trained on one region and
    season also codes diurnal ranges unlike its own (`amplitude = 1`: none)."""

    def __init__(self, train: np.ndarray, test: np.ndarray, length: int, data: str, amplitude: float):
        super().__init__(train, test, length, data)
        self.amplitude = amplitude

    def draw(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        x = super().draw(gen, batch)
        mean = x.mean(dim=(1, 2), keepdim=True)
        spread = math.log(self.amplitude)
        factor = torch.empty(batch, 1, 1).uniform_(-spread, spread, generator=gen).exp()
        scaled = torch.rand(batch, 1, 1, generator=gen) < 0.5
        return torch.where(scaled, mean + (x - mean) * factor, x)


def hourly_task(length: int, path: str | Path | None = None, amplitude: float = 1.0) -> HourlyTask:
    """Hourly windows `(b, 1, length)`: trained before `HOLDOUT_START` (anomalies scaled up to `amplitude`,
    see `HourlyTask`), evaluated on the held-out days as they are."""
    path = path or ERA5_FIXTURE
    train, test = load_hourly(path).split()
    if test.values.shape[1] % length:
        raise InputError(path, "held-out hours", f"a multiple of the window length {length}", str(test.values.shape[1]))
    windows = test.values.reshape(-1, 1, length)
    data = f"{Path(path).name}: train {train.times[0]} .. {train.times[-1]}, test {test.times[0]} .. {test.times[-1]}"
    if amplitude != 1:
        data += f"; half of the training windows' anomalies scaled by x{1 / amplitude:.1f}..x{amplitude:g}"
    return HourlyTask(train.values[:, None, :], windows, length, data, amplitude)


def daily_task(length: int, path: str | Path | None = None) -> SeriesTask:
    """Daily mean/min/max windows `(b, 3, length)` days: trained on points north of `DAILY_HOLDOUT_LAT`,
    evaluated on the latest window of each point south of it."""
    path = path or ERA5_FIXTURE
    hourly = load_hourly(path)
    daily = hourly.daily()
    if daily.shape[-1] < length:
        raise InputError(path, "days", f"at least {length} whole days for {length}-day windows", str(daily.shape[-1]))
    held = hourly.lat < DAILY_HOLDOUT_LAT
    data = (
        f"{Path(path).name}: daily mean/min/max of {daily.shape[-1]} days; train {int((~held).sum())} points "
        f"north of {DAILY_HOLDOUT_LAT} N, test {int(held.sum())} points south of it (last {length} days)"
    )
    return SeriesTask(daily[~held], daily[held][:, :, -length:], length, data)
