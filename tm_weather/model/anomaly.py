"""The regression part of a generated field: a network for the mean (tile level and within-tile anomaly) and a
calibrated noise model for the within-tile residual.

A generated field is a sum a reader can follow (CorrDiff's split, Mardani et al. 2023, arXiv:2309.15214: a
regression network predicts the mean, a generative part samples the residual):

    field(t, y, x) = base(t)                  the GFS input at the tile (`tiles.GFSInput`), or without GFS
                                              ERA5's monthly-mean climate at the place (`tm_weather.climatology`)
                   + level(t)                 this module's `AnomalyNet`: the correction of the tile mean
                   + anomaly_mean(t, y, x)    this module's `AnomalyNet`: zero tile mean, at the 40 m cells
                   + profile_residual(t)      the transformer's sampled `t2m_residual` tokens (`model.generate`),
                                              scaled to this module's `AnomalyNet` error model: sd level_sd(t)
                   + residual(t, y, x)        this module's `ResidualNoise`: a Gaussian random field of sd
                                              cell_sd(t), the `AnomalyNet` error model's

`AnomalyNet` runs a small U-Net once per tile over its static inputs (`static_inputs`: 12 Sentinel-2 bands,
NDVI, the DEM minus its tile mean, a DEM-present flag; each at `CELL_PX`-pixel cells, i.e. 40 m on a 10 m tile)
to `basis` maps and a tile context vector; beside the U-Net's maps, `fixed_maps` (the inputs smoothed over the
air's mixing scale and the DEM's topographic position) complete the basis `B_k(y, x)`. Two small MLPs take each
hour's `time_features` (local solar hour, day of year, latitude), its `level_features` (the GFS input's diurnal
shape, its departure from the climate and its lead; the climate itself, its annual range and the tile's mean
height) and the context: one gives weights `w_k(t)`,

    anomaly_mean(t) = sum_k w_k(t) B_k - its tile mean        (K)

(the level features tell it how large the day's contrasts are: a land-cover term follows the diurnal range), the
other gives level(t) (K). The anomaly is learned on a prior: the standard atmosphere's lapse rate over the DEM,

    anomaly_mean(t) = LAPSE_RATE_K_PER_M x (DEM - its tile mean) + sum_k w_k(t) B_k - its tile mean

so a hill is cooler at its top unless the data teach otherwise (a night's inversion does), and a catalog whose
in-tile height term is small next to its land cover still gets the sign of the DEM right. A prior on the start is
not enough where the data hardly pin the height term down: the night's cold pools leaked into the day through the
shared basis maps. So after the fit a relief stage (`anomaly_train.fit_relief`) trains the hourly weights further
with a penalty on how the anomaly answers random relief added to the DEM beyond the lapse rate, weighted by
`daylight` (the sun heats the ground and mixes the air by day; a cold pool forms when it is down).
So one pass serves every hour of the day, with or without GFS. A third MLP, the error model, takes the same hourly
inputs (the context detached) to the standard deviations of the mean's errors at that hour: of its tile level
(`level_sd`) and of a 40 m cell inside the tile (`cell_sd`); it is fitted after the mean, on train tiles the mean
never saw, and calibrated there so that its mean variance is their mean squared error, with GFS and without
(`anomaly_train.fit_error`), so the ensemble's spread follows the situation (lead, GFS or not, place, hour).
Nothing in it is specific to the benchmark world: inputs are physical (reflectance, metres, hours, degrees,
kelvin) and everything else is learned from a catalog's train split (`tm_weather.model.anomaly_train`); GFS is
withheld from a share of the training days so the same network serves a user without a forecast.

The within-tile residual (truth minus the mean) is sampled from `ResidualNoise`: white noise smoothed by a
Gaussian of `length_m` (fitted on the held-out tiles' residuals) and scaled to the error model's `cell_sd`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from torch import nn

from tm_weather.checkpoint_io import read_safetensors, save_safetensors
from tm_weather.errors import InputError
from tm_weather.lapse import LAPSE_RATE_K_PER_M

#: Tile pixels per network cell side: 4 x 10 m = 40 m, the benchmark truth's cell (and finer than most analyses).
CELL_PX = 4
#: Static input channels: 12 S-2 bands (reflectance), NDVI, DEM minus its tile mean (hm), DEM present (0/1).
STATIC_CHANNELS = 15
#: The channel of the DEM minus its tile mean (hm); the DEM-present flag follows it.
DEM_CHANNEL = 13
#: Gaussian sigma (cells) of the fixed maps' smoothing: 80 m on 40 m cells, the air's mixing of the surface.
SMOOTH_CELLS = 2.0
#: Gaussian sigma (cells) of the DEM's surroundings for the topographic position: 400 m on 40 m cells.
TPI_CELLS = 10.0
#: Fixed maps (`fixed_maps`): the 12 bands, NDVI and the DEM smoothed; the topographic position and its hollows.
FIXED_MAPS = DEM_CHANNEL + 1 + 2
#: Time features per hour (`time_features`).
TIME_FEATURES = 9
#: DEM anomaly unit (m): heights enter in hectometres.
DEM_SCALE_M = 100.0
#: Level features per hour (`level_features`).
LEVEL_FEATURES = 7
#: The error model's sds lie within a factor exp(ERROR_SPAN) (about 2) of the held-out tiles' RMS errors: a
#: bound on extrapolation. Unbounded, the error MLP fitted on 150 held-out tile-days of the full world predicted
#: sds up to 100 times the error on some unseen tiles.
ERROR_SPAN = 0.7


@dataclass(frozen=True)
class AnomalyConfig:
    """`width`: the U-Net's first level's channels (doubled below); `basis`: static maps K; `context`: tile
    context channels fed to the hour MLP; `hidden`: the MLP's width; `cell_px`: tile pixels per cell side."""

    width: int = 24
    basis: int = 8
    context: int = 8
    hidden: int = 32
    cell_px: int = CELL_PX


class UNet(nn.Module):
    """Three-level U-Net `(b, c_in, H, W)` -> `(b, c_out, H, W)`, H and W divisible by 8; widths w, 2w, 2w, 2w."""

    def __init__(self, c_in: int, c_out: int, width: int):
        super().__init__()
        w = width
        self.down = nn.ModuleList([_block(c_in, w), _block(w, 2 * w), _block(2 * w, 2 * w)])
        self.mid = _block(2 * w, 2 * w)
        self.up = nn.ModuleList([_block(4 * w, 2 * w), _block(4 * w, 2 * w), _block(3 * w, w)])
        self.head = nn.Conv2d(w, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.mid(x)
        for block in self.up:
            x = block(torch.cat([skips.pop(), F.interpolate(x, scale_factor=2, mode="bilinear")], 1))
        return self.head(x)


def _block(a: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, padding_mode="replicate"), nn.GELU(),
                         nn.Conv2d(b, b, 3, padding=1, padding_mode="replicate"), nn.GELU())


class AnomalyNet(nn.Module):
    """Static inputs `(b, STATIC_CHANNELS, h, w)`, time features `(b, t, TIME_FEATURES)` and level features `(b,
    t, LEVEL_FEATURES)` -> the field minus its base `(b, t, h, w)` K: level(t) + the anomaly mean (zero mean over
    each map), `h = w = 224 / cell_px` (56 cells of 40 m)."""

    def __init__(self, config: AnomalyConfig = AnomalyConfig()):
        super().__init__()
        self.config = config
        self.backbone = UNet(STATIC_CHANNELS, config.basis + config.context, config.width)
        self.register_buffer("shift", torch.zeros(STATIC_CHANNELS))  # per-channel input standardisation,
        self.register_buffer("scale", torch.ones(STATIC_CHANNELS))  # set from the training data (`standardise`)
        # log K, rows without and with GFS, columns the tile level and a cell: the held-out RMS errors, calibrated
        # (`anomaly_train.fit_error`)
        self.register_buffer("error_centre", torch.zeros(2, 2))
        self.weights = _mlp(TIME_FEATURES + config.context + LEVEL_FEATURES, config.hidden, config.basis + FIXED_MAPS)
        self.level = _mlp(TIME_FEATURES + config.context + LEVEL_FEATURES, config.hidden, 1)
        self.error = _mlp(TIME_FEATURES + config.context + LEVEL_FEATURES, config.hidden, 2)

    def standardise(self, static: torch.Tensor) -> None:
        """Set the input standardisation from training inputs `(n, C, h, w)`: each channel's mean and sd."""
        self.shift.copy_(static.mean((0, 2, 3)))
        sd = static.std((0, 2, 3))
        self.scale.copy_(torch.where(sd > 1e-6, sd, torch.ones_like(sd)))

    def basis(self, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(b, C, h, w)` -> basis maps `(b, K + FIXED_MAPS, h, w)` (zero mean each: the U-Net's K, then
        `fixed_maps` of the standardised inputs) and tile context `(b, context)`."""
        x = (static - self.shift[:, None, None]) / self.scale[:, None, None]
        out = self.backbone(x)
        maps = torch.cat([out[:, : self.config.basis], fixed_maps(x)], 1)
        return maps - maps.mean((2, 3), keepdim=True), out[:, self.config.basis :].mean((2, 3))

    def forward(self, static: torch.Tensor, times: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        return self.outputs(static, times, levels)[0]

    def outputs(self, static: torch.Tensor, times: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The field minus its base `(b, t, h, w)` K and the error model's log standard deviations `(b, t, 2)`
        (log K: the tile level's error, a cell's within-tile residual). The error model sees the context
        detached: fitting it leaves the mean as it is."""
        maps, context = self.basis(static)
        hourly = self.hourly_inputs(times, context, levels)
        w = self.weights(hourly)  # (b, t, K)
        level = self.level(hourly)  # (b, t, 1)
        log_sd = self.log_sd(self.hourly_inputs(times, context.detach(), levels))  # (b, t, 2)
        lapse = LAPSE_RATE_K_PER_M * DEM_SCALE_M * static[:, None, DEM_CHANNEL]  # (b, 1, h, w) K, zero mean
        return torch.einsum("btk,bkyx->btyx", w, maps) + lapse + level[..., None], log_sd

    def log_sd(self, inputs: torch.Tensor) -> torch.Tensor:
        """The error model: inputs `(..., F)` (`hourly_inputs`) -> log sds `(..., 2)` (log K), within `ERROR_SPAN`
        of `error_centre`'s row for the hour's GFS flag (`gfs_given`)."""
        centre = torch.where(gfs_given(inputs)[..., None], self.error_centre[1], self.error_centre[0])
        return centre + ERROR_SPAN * torch.tanh(self.error(inputs))

    @staticmethod
    def hourly_inputs(times: torch.Tensor, context: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """The three MLPs' inputs `(b, t, TIME_FEATURES + context + LEVEL_FEATURES)`: the hour's time features
        `(b, t, .)`, the tile context `(b, context)` and the hour's level features `(b, t, .)`."""
        return torch.cat([times, context[:, None].expand(-1, times.shape[1], -1), levels], -1)


def gfs_given(inputs: torch.Tensor) -> torch.Tensor:
    """The MLPs' inputs `(..., F)` (`AnomalyNet.hourly_inputs`, whose last `LEVEL_FEATURES` are the hour's
    `level_features`, the first of them the GFS flag) -> `(...)` bool: GFS was given at that hour."""
    return inputs[..., -LEVEL_FEATURES] > 0.5


def fixed_maps(static: torch.Tensor) -> torch.Tensor:
    """Static inputs `(b, STATIC_CHANNELS, h, w)` -> `(b, FIXED_MAPS, h, w)`: the bands, NDVI and DEM smoothed by
    a Gaussian of `SMOOTH_CELLS`, and the DEM's topographic position (its surroundings, a Gaussian of `TPI_CELLS`,
    minus it; positive in hollows, where cold air pools) and its positive part. Basis maps the U-Net need not
    learn: on the full world's test split these maps plus the raw inputs, weighted per tile-hour, bound the
    within-tile error at 0.246 K (`benchmarks/field_limit.py`), and as fixed basis maps they took a 1,000-step
    fit from 0.519 to 0.444 K (BENCHMARKS.md, Field structure)."""
    dem = static[:, DEM_CHANNEL : DEM_CHANNEL + 1]
    tpi = gaussian_smooth(dem, TPI_CELLS) - dem
    return torch.cat([gaussian_smooth(static[:, : DEM_CHANNEL + 1], SMOOTH_CELLS), tpi, tpi.clamp_min(0)], 1)


def gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Maps `(b, c, h, w)` smoothed by a separable Gaussian of `sigma` cells (truncated at 3 sigma), the edges
    replicated (scipy.ndimage's mode "nearest"; in torch so that it batches and runs where the network runs)."""
    r = int(3 * sigma)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _mlp(a: int, hidden: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, b))


@dataclass(frozen=True)
class ResidualNoise:
    """The residual's model: Gaussian white noise on the cells smoothed by a Gaussian of `length_m` (sigma, m),
    zero tile mean; its standard deviation is the error model's `cell_sd` at the hour (`AnomalyModel.predict`)."""

    length_m: float

    @classmethod
    def fit(cls, residual: np.ndarray, cell_m: float) -> ResidualNoise:
        """From residuals `(n, h, w)` K on cells of `cell_m` m (NaN ignored): the sigma whose smoothed white noise
        has the residuals' neighbour correlation rho, exp(-d^2 / (4 sigma^2)) at d = one cell."""
        r = residual - np.nanmean(residual, axis=(1, 2), keepdims=True)
        pairs = np.concatenate([(r[:, :, 1:] * r[:, :, :-1]).ravel(), (r[:, 1:] * r[:, :-1]).ravel()])
        rho = float(np.clip(np.nanmean(pairs) / max(float(np.nanmean(r**2)), 1e-12), 1e-3, 0.999))
        return cls(float(cell_m / np.sqrt(-4 * np.log(rho))))

    def sample(self, gen: np.random.Generator, n: int, shape: tuple[int, int], cell_m: float, sd_k: float) -> np.ndarray:
        """`n` fields `(n, h, w)` K on cells of `cell_m` m, standard deviation `sd_k` K over them all."""
        white = gen.standard_normal((n, *shape))
        smooth = gaussian_filter(white, (0, self.length_m / cell_m, self.length_m / cell_m), mode="wrap")
        smooth -= smooth.mean(axis=(1, 2), keepdims=True)
        return (sd_k * smooth / max(float(smooth.std()), 1e-12)).astype(np.float32)


def static_inputs(reflectance: np.ndarray, dem: np.ndarray | None, cell_px: int = CELL_PX) -> torch.Tensor:
    """Reflectance `(12, H, W)` (B01..B12, NaN-free) and elevation `(H, W)` m or None -> `(STATIC_CHANNELS,
    H / cell_px, W / cell_px)` float32: the bands and NDVI as cell means, the DEM minus its tile mean in
    hectometres (zeros without a DEM), and the DEM-present flag."""
    refl = torch.from_numpy(np.asarray(reflectance, np.float32))
    cells = F.avg_pool2d(refl[None], cell_px)[0]
    red, nir = cells[3], cells[7]
    ndvi = (nir - red) / (nir + red).clamp_min(1e-6)
    if dem is None:
        height, flag = torch.zeros_like(red), torch.zeros_like(red)
    else:
        height = F.avg_pool2d(torch.from_numpy(np.asarray(dem, np.float32))[None, None], cell_px)[0, 0]
        height, flag = (height - height.mean()) / DEM_SCALE_M, torch.ones_like(red)
    return torch.cat([cells, ndvi[None], height[None], flag[None]])


def time_features(times: np.ndarray, lat: float, lon: float) -> torch.Tensor:
    """UTC `times` `(t,)` datetime64 at a tile centred at `lat`, `lon` (degrees) -> `(t, TIME_FEATURES)`:
    local solar hour (UTC + lon / 15) as two harmonics, day of year as one harmonic (and again signed by the
    hemisphere, so seasons can flip), latitude / 90."""
    t = np.asarray(times).astype("datetime64[m]")
    hours = (t - t.astype("datetime64[D]")).astype(np.float64) / 60.0
    local = 2 * np.pi * (hours + lon / 15.0) / 24.0
    doy = (t.astype("datetime64[D]") - t.astype("datetime64[Y]")).astype(np.float64)
    season = 2 * np.pi * doy / 365.25
    hemi = np.sign(lat) or 1.0
    cols = [np.sin(local), np.cos(local), np.sin(2 * local), np.cos(2 * local), np.sin(season), np.cos(season),
            hemi * np.sin(season), hemi * np.cos(season), np.full_like(hours, lat / 90.0)]
    return torch.from_numpy(np.stack(cols, -1).astype(np.float32))


#: The Earth's obliquity (degrees): the amplitude of the sun's declination over the year.
OBLIQUITY_DEG = 23.44


def daylight(times: torch.Tensor) -> torch.Tensor:
    """Time features `(..., TIME_FEATURES)` (`time_features`) -> `(...)`: the sine of the sun's elevation at the
    tile at that hour, 0 while it is down; the share of the day's strongest surface heating, which mixes the air
    near the ground. Written here rather than taken from a solar-position library (pvlib): it needs only what the
    time features hold, to about 1 degree: the declination OBLIQUITY_DEG x sin(2 pi (doy - 81) / 365.25) (Cooper
    1969) and the hour angle from the local solar hour."""
    spring = 2 * np.pi * 81 / 365.25
    sin_dec = np.sin(np.radians(OBLIQUITY_DEG)) * (times[..., 4] * np.cos(spring) - times[..., 5] * np.sin(spring))
    cos_dec = (1 - sin_dec**2).clamp_min(0.0).sqrt()
    lat = torch.deg2rad(times[..., 8] * 90.0)
    cos_hour_angle = -times[..., 1]  # the local solar hour's phase is 0 at midnight, the hour angle's at noon
    return (lat.sin() * sin_dec + lat.cos() * cos_dec * cos_hour_angle).clamp_min(0.0)


@dataclass(frozen=True)
class Place:
    """What the level needs to know of a tile besides its pixels: ERA5's monthly-mean climate at its centre over
    the hours `clim (t,)` K, the climate's annual range there (K: warmest minus coldest month) and the tile's
    mean height (m; None without a DEM)."""

    clim: np.ndarray
    annual_range_k: float
    height_m: float | None

    @classmethod
    def at(cls, lat: float, lon: float, times: np.ndarray, dem: np.ndarray | None) -> Place:
        from tm_weather.climatology import packaged

        clim = packaged()
        year = clim.months(lat, lon)
        return cls(clim(lat, lon, np.asarray(times)).astype(np.float32), float(year.max() - year.min()),
                   None if dem is None else float(np.mean(dem)))


def level_features(place: Place, gfs_values: np.ndarray | None, gfs_lead: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per hour `(t, LEVEL_FEATURES)` and the base `(t,)` K the network's output is added to: with GFS values `(t,)`
    K (leads `(t,)` h) the base is GFS and the features say GFS is there, its departure from its own mean over the
    hours (its diurnal shape), its mean's departure from the climate and its lead; without, the base is the
    climate and those are 0. Always: the climate (K above 273.15), its annual range and the mean height (km)."""
    clim = torch.from_numpy(np.asarray(place.clim, np.float32))
    zero = torch.zeros_like(clim)
    if gfs_values is None:
        base, has, shape, anomaly, lead = clim, zero, zero, zero, zero
    else:
        base = torch.from_numpy(np.asarray(gfs_values, np.float32))
        has, shape = torch.ones_like(clim), (base - base.mean()) / 5.0
        anomaly = (base.mean() - clim.mean()).expand_as(clim) / 5.0
        lead = torch.from_numpy(np.asarray(gfs_lead, np.float32)) / 12.0
    height = 0.0 if place.height_m is None else place.height_m / 1000.0
    cols = [has, shape, anomaly, lead, (clim - 273.15) / 20.0, torch.full_like(clim, place.annual_range_k / 20.0),
            torch.full_like(clim, height)]
    return torch.stack(cols, -1), base


@dataclass(frozen=True)
class Regression:
    """What the regression says of a tile over hours `(t,)`: the field's mean `(t, h, w)` K at the cells (base +
    level + anomaly mean), and the error model's standard deviations `(t,)` K of that mean's tile level
    (`level_sd`) and of a cell's within-tile residual (`cell_sd`)."""

    mean: torch.Tensor
    level_sd: torch.Tensor
    cell_sd: torch.Tensor


@dataclass
class AnomalyModel:
    """A trained `AnomalyNet` and its `ResidualNoise`: what generation adds to the tile mean."""

    net: AnomalyNet
    noise: ResidualNoise
    sha256: str = ""  # of the checkpoint it was loaded from

    @torch.no_grad()
    def predict(self, reflectance: np.ndarray, dem: np.ndarray | None, times: np.ndarray, lat: float, lon: float,
                gfs_values: np.ndarray | None = None, gfs_lead: np.ndarray | None = None) -> Regression:
        """The `Regression` of a tile's inputs (`static_inputs`) at UTC `times` `(t,)`, with the GFS input at
        those hours (values K, leads h) or without (the climate as base)."""
        self.net.eval()
        static = static_inputs(reflectance, dem, self.net.config.cell_px)
        levels, base = level_features(Place.at(lat, lon, times, dem), gfs_values, gfs_lead)
        out, log_sd = self.net.outputs(static[None], time_features(times, lat, lon)[None], levels[None])
        sd = log_sd[0].exp()
        return Regression(out[0] + base[:, None, None], sd[:, 0], sd[:, 1])

    def mean(self, reflectance: np.ndarray, dem: np.ndarray | None, times: np.ndarray, lat: float, lon: float,
             gfs_values: np.ndarray | None = None, gfs_lead: np.ndarray | None = None) -> torch.Tensor:
        """The field's mean `(t, h, w)` K at the cells (`predict`'s)."""
        return self.predict(reflectance, dem, times, lat, lon, gfs_values, gfs_lead).mean

    def profile(self, tile, hours: np.ndarray, gfs=None) -> torch.Tensor:
        """The mean's tile-mean profile `(t,)` K on a `tiles.Tile` at UTC `hours`, given its `tiles.GFSInput` at
        those hours or None (the climate as base)."""
        values, lead = (None, None) if gfs is None else (gfs.values, gfs.lead)
        return self.mean(tile.reflectance, tile.dem, hours, tile.lat, tile.lon, values, lead).mean((1, 2))

    def draws(self, mean: torch.Tensor, cell_sd: float, shape: tuple[int, int], pixel_m: float, members: int,
              seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One hour's mean `(h, w)` K at the cells and its `cell_sd` (K, the error model's) -> on the tile's
        pixels `shape` (`pixel_m` m): the mean's within-tile anomaly `(H, W)` K and `members` draws `(members, H,
        W)` K of that anomaly + the residual noise (seeded by `seed`), bilinear from the cells, zero tile mean
        each. With two members or more the noise draws are centred on their member mean (their sample variance,
        the ensemble's spread, is unchanged), so the members' mean is the regression's anomaly, as the profile
        departures are centred (`generate.member_profiles`): uncentred, 8 draws' mean added 0.05 K to the full
        world's within-tile RMSE."""
        cell_m = pixel_m * self.net.config.cell_px
        anomaly = (mean - mean.mean())[None]
        noise = torch.from_numpy(self.noise.sample(np.random.default_rng(seed), members, tuple(mean.shape), cell_m,
                                                   float(cell_sd)))
        if members > 1:
            noise = noise - noise.mean(0, keepdim=True)
        pixels = F.interpolate(torch.cat([anomaly, anomaly + noise])[:, None], size=shape, mode="bilinear")[:, 0]
        pixels = pixels - pixels.mean((1, 2), keepdim=True)
        return pixels[0], pixels[1:]

    def save(self, path: Path, card: dict[str, str] | None = None) -> None:
        """Weights as float16 safetensors (`checkpoint_io.save_safetensors`) with the config and noise model in
        the metadata (and `card`'s entries)."""
        tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in self.net.state_dict().items()}
        meta = {"config": json.dumps(asdict(self.net.config)), "noise": json.dumps(asdict(self.noise)),
                "lapse_rate_k_per_m": str(LAPSE_RATE_K_PER_M), **(card or {})}
        save_safetensors(tensors, path, meta)


def load_anomaly(path: Path) -> AnomalyModel:
    """A checkpoint written by `AnomalyModel.save` -> the model (float32, eval mode)."""
    tensors, meta = read_safetensors(path, "a safetensors anomaly checkpoint (tm-weather train)")
    if "config" not in meta or "noise" not in meta:
        raise InputError(path, "metadata", "'config' and 'noise'", str(sorted(meta)))
    if meta.get("lapse_rate_k_per_m") != str(LAPSE_RATE_K_PER_M):  # its anomaly was learned on another prior
        raise InputError(path, "metadata", f"lapse_rate_k_per_m {LAPSE_RATE_K_PER_M}, the prior its anomaly is learned "
                         "on (retrain: tm-weather train --part anomaly)", meta.get("lapse_rate_k_per_m", "none"))
    net = AnomalyNet(AnomalyConfig(**json.loads(meta["config"])))
    missing = sorted(set(net.state_dict()) - set(tensors))
    if missing:  # e.g. a checkpoint from before the error model: its spread came from elsewhere
        raise InputError(path, "weights", "every AnomalyNet weight, the error model's included (retrain: tm-weather "
                         "train --part anomaly)", f"missing {', '.join(missing[:4])}")
    shapes = [k for k, v in net.state_dict().items() if tensors[k].shape != v.shape]
    if shapes:  # e.g. a checkpoint from before the error model's calibration with and without GFS
        raise InputError(path, "weights", "the shapes of this version's AnomalyNet (retrain: tm-weather train --part "
                         "anomaly)", ", ".join(f"{k} {tuple(tensors[k].shape)}" for k in shapes[:4]))
    net.load_state_dict(tensors)
    noise = json.loads(meta["noise"])
    from tm_weather.tokenizers.registry import sha256

    return AnomalyModel(net.eval(), ResidualNoise(float(noise["length_m"])), sha256(path))
