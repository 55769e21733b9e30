"""Random fields of (lat, lon) defined everywhere: sums of plane waves with random directions and phases.

One field can be evaluated on any set of points (a 10 m tile, a 2.5 km truth grid, a 0.25 deg GFS grid) and gives
the same value at the same place, which keeps every file of the world consistent with every other.
Positions are mapped to km by x = R lon cos(lat), y = R lat (radians), a smooth, slightly sheared plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_KM = 6371.0


def to_km(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degrees -> (x, y) km on the world's plane, same shapes as the inputs."""
    lat_r = np.radians(np.asarray(lat, dtype=np.float64))
    return EARTH_RADIUS_KM * np.radians(np.asarray(lon, dtype=np.float64)) * np.cos(lat_r), EARTH_RADIUS_KM * lat_r


@dataclass(frozen=True)
class WaveBasis:
    """`n` plane waves: wavenumbers `kx`, `ky` (rad/km, (n,)), phases (n,). Wavelengths are log-uniform in
    `wavelength_km`, directions uniform."""

    kx: np.ndarray
    ky: np.ndarray
    phase: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, wavelength_km: tuple[float, float]) -> WaveBasis:
        wavelength = np.exp(rng.uniform(np.log(wavelength_km[0]), np.log(wavelength_km[1]), n))
        direction = rng.uniform(0, 2 * np.pi, n)
        k = 2 * np.pi / wavelength
        return cls(k * np.cos(direction), k * np.sin(direction), rng.uniform(0, 2 * np.pi, n))

    def angles(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Wave phases at the points: (n, *points.shape), radians."""
        x, y = to_km(lat, lon)
        return self.kx.reshape(-1, *[1] * x.ndim) * x + self.ky.reshape(-1, *[1] * y.ndim) * y + self.phase.reshape(-1, *[1] * x.ndim)


@dataclass(frozen=True)
class WaveField:
    """A static random field: sum over waves of amp * cos(angle), zero mean, standard deviation `sd`."""

    basis: WaveBasis
    amp: np.ndarray

    @classmethod
    def draw(
        cls, rng: np.random.Generator, sd: float, wavelength_km: tuple[float, float], n: int = 32, hurst: float = 0.0
    ) -> WaveField:
        """Waves with amplitude proportional to wavelength ** `hurst` (0: equal energy per log wavelength; about 1
        for terrain, whose relief grows with scale), scaled so the field's standard deviation is `sd`."""
        basis = WaveBasis.draw(rng, n, wavelength_km)
        amp = np.hypot(basis.kx, basis.ky) ** -hurst
        return cls(basis, amp * sd * np.sqrt(2.0 / np.sum(amp**2)))

    def on_grid(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Values on a small regular grid `(ny, nx)` (e.g. a tile's pixels), whose positions on the world's plane
        are affine in the pixel indices to well below a metre over a few km: each wave is then a product of a
        row and a column factor, and the sum over waves one product of them (einsum, not BLAS: a small BLAS
        product with threads is slow on a busy machine)."""
        ny, nx = lat.shape
        x, y = to_km(lat[[0, 0, -1], [0, -1, 0]], lon[[0, 0, -1], [0, -1, 0]])  # corners: x[0, 0], [0, -1], [-1, 0]
        x, y = np.array([[x[0], x[1]], [x[2], 0.0]]), np.array([[y[0], y[1]], [y[2], 0.0]])
        du = ((x[0, -1] - x[0, 0]) / (nx - 1), (y[0, -1] - y[0, 0]) / (nx - 1))  # km per column
        dv = ((x[-1, 0] - x[0, 0]) / (ny - 1), (y[-1, 0] - y[0, 0]) / (ny - 1))  # km per row
        b = self.basis
        start = b.kx * x[0, 0] + b.ky * y[0, 0] + b.phase
        cols = np.exp(1j * (start[:, None] + (b.kx * du[0] + b.ky * du[1])[:, None] * np.arange(nx)[None]))
        rows = np.exp(1j * (b.kx * dv[0] + b.ky * dv[1])[:, None] * np.arange(ny)[None])
        return np.einsum("wi,w,wj->ij", rows, self.amp, cols, optimize=False).real

    def __call__(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Values at the points, same shape as `lat`."""
        lat = np.asarray(lat, dtype=np.float64)
        out = np.zeros(lat.shape)
        x, y = to_km(lat, lon)
        for kx, ky, ph, a in zip(self.basis.kx, self.basis.ky, self.basis.phase, self.amp):
            out += a * np.cos(kx * x + ky * y + ph)
        return out


def ar1_series(rng: np.random.Generator, n_steps: int, n_series: int, phi: float, sd: float) -> np.ndarray:
    """`n_series` stationary AR(1) series of `n_steps`, lag-1 correlation `phi`, standard deviation `sd`:
    (n_steps, n_series)."""
    out = np.empty((n_steps, n_series))
    out[0] = rng.normal(0, sd, n_series)
    innovation = sd * np.sqrt(1 - phi**2)
    for t in range(1, n_steps):
        out[t] = phi * out[t - 1] + rng.normal(0, innovation, n_series)
    return out


@dataclass(frozen=True)
class EvolvingField:
    """A field whose wave coefficients evolve in time: value(t, p) = sum_k a_k(t) cos(angle_k(p)) + b_k(t) sin(.),
    with a_k, b_k AR(1) over the time nodes. `coef`: (node, 2n); the field's standard deviation is `sd`."""

    basis: WaveBasis
    coef: np.ndarray

    @classmethod
    def draw(
        cls, rng: np.random.Generator, n_nodes: int, sd: float, phi: float, wavelength_km: tuple[float, float], n: int
    ) -> EvolvingField:
        basis = WaveBasis.draw(rng, n, wavelength_km)
        return cls(basis, ar1_series(rng, n_nodes, 2 * n, phi, sd / np.sqrt(n)))

    def __call__(self, lat: np.ndarray, lon: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Values at 1-D points and times `at` `(time,)` in node units (fractions interpolate linearly between
        nodes): (time, point)."""
        angles = self.basis.angles(np.ravel(lat), np.ravel(lon))  # (n, point)
        design = np.concatenate([np.cos(angles), np.sin(angles)])  # (2n, point)
        at = np.asarray(at, dtype=np.float64)
        below = np.minimum(np.floor(at).astype(int), len(self.coef) - 2)
        w = (at - below)[:, None]
        return ((1 - w) * self.coef[below] + w * self.coef[below + 1]) @ design
