"""One 2 m temperature field over an area from 224 x 224 px tiles: where the tiles go, how their ensembles are
blended so that no seam shows, and how the field is written (CF netCDF or a Cloud-Optimized GeoTIFF).

- Tiling (`tile_starts`): along each axis as few tiles as cover the area with at least `overlap` px shared by
  neighbours, spread evenly (so overlaps are equal, >= `overlap`); an area of one tile is that tile.
- Blending (`blend_window`, `Blend`): each tile's statistics are weighted per pixel by a separable window that is
  1 in the tile's interior and falls smoothly (smoothstep) to near 0 over the `overlap` px at each edge, then
  divided by the summed weights. Where one tile alone covers a pixel its value is that tile's exactly (a blend of
  constant tiles is that constant); across an overlap the field passes from one tile to the next over the whole
  overlap with no step.
- Statistics, streamed tile by tile (memory: a few float32 arrays of the area, never all members of all tiles):
  the ensemble mean is the weighted mean of the tiles' means; the spread is the standard deviation of the
  weighted mixture of the tiles' ensembles (weighted sums of each tile's variance plus its squared mean, taken
  about a reference level for float32 precision); quantiles are the weighted means of the tiles' own quantiles
  (quantile averaging, which keeps them ordered; in an overlap it is not the quantile of the pooled ensemble);
  members, on request only, are the weighted means of the tiles' members of the same index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from tm_weather.tiles import SIZE

DEFAULT_OVERLAP = 64  # px shared by neighbouring tiles, at least


def tile_starts(length: int, size: int = SIZE, overlap: int = DEFAULT_OVERLAP) -> list[int]:
    """First pixels of the tiles covering `length` px (>= `size`) along one axis, neighbours sharing at least
    `overlap` px, spread evenly; the last tile ends at `length`."""
    if length < size:
        raise ValueError(f"length {length} is below one tile ({size})")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in 0..{size - 1}, got {overlap}")
    n = 1 + int(np.ceil((length - size) / (size - overlap)))
    return sorted({int(round(v)) for v in np.linspace(0, length - size, n)})


def blend_window(size: int = SIZE, overlap: int = DEFAULT_OVERLAP) -> np.ndarray:
    """Blending weights `(size, size)`: the outer product of a 1-D window that is 1 except over the `overlap` px
    at each end, where it rises as a smoothstep from about 0 (never 0, so a pixel one tile alone covers keeps
    that tile's value) to 1."""
    i = np.arange(size, dtype=np.float64)
    edge = np.minimum(i + 0.5, size - i - 0.5) / max(overlap, 1)
    t = np.clip(edge, 0, 1)
    w = t * t * (3 - 2 * t)
    return np.outer(w, w).astype(np.float32)


@dataclass
class Blend:
    """Weighted sums over an area `(ny, nx)` for `quantiles` (levels in 0..1) and, if `members` > 0, that many
    members; `add` one tile's ensemble at a time, then `mean`, `spread`, `quantile` and `member_fields` (K,
    NaN where no tile was added)."""

    shape: tuple[int, int]
    quantiles: tuple[float, ...]
    members: int = 0
    window: np.ndarray = field(default_factory=blend_window)

    def __post_init__(self):
        ny, nx = self.shape
        self.weight = np.zeros((ny, nx), np.float32)
        self.mean_sum = np.zeros((ny, nx), np.float32)
        self.square_sum = np.zeros((ny, nx), np.float32)
        self.quantile_sum = np.zeros((len(self.quantiles), ny, nx), np.float32)
        self.member_sum = np.zeros((self.members, ny, nx), np.float32)
        self.reference: float | None = None

    def add(self, row: int, col: int, ensemble: np.ndarray) -> None:
        """One tile's ensemble `(members, size, size)` K whose first pixel is (`row`, `col`) of the area."""
        if self.reference is None:  # sums of squares are taken about it: float32 keeps ~1e-7 of (T - reference)^2
            self.reference = float(np.round(np.mean(ensemble)))
        ensemble = ensemble.astype(np.float32) - np.float32(self.reference)
        w = self.window
        s = np.s_[row:row + w.shape[0], col:col + w.shape[1]]
        mean = ensemble.mean(0)
        self.weight[s] += w
        self.mean_sum[s] += w * mean
        self.square_sum[s] += w * (ensemble.var(0) + mean * mean)
        if self.quantiles:
            self.quantile_sum[(slice(None), *s)] += w * np.quantile(ensemble, self.quantiles, axis=0).astype(np.float32)
        if self.members:
            self.member_sum[(slice(None), *s)] += w * ensemble[:self.members]

    def _divided(self, total: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.weight > 0, total / self.weight, np.nan).astype(np.float32)

    def mean(self) -> np.ndarray:
        return self._divided(self.mean_sum) + np.float32(self.reference or 0)

    def spread(self) -> np.ndarray:
        m = self._divided(self.mean_sum)
        return np.sqrt(np.maximum(self._divided(self.square_sum) - m * m, 0))

    def quantile(self) -> np.ndarray:
        return self._divided(self.quantile_sum) + np.float32(self.reference or 0)

    def member_fields(self) -> np.ndarray:
        return self._divided(self.member_sum) + np.float32(self.reference or 0)


def write_field(ds: xr.Dataset, path: Path) -> None:
    """An area field (`tm_weather.api.generate`'s dataset) to `path`: CF netCDF for `.nc` (compressed), else a
    Cloud-Optimized GeoTIFF whose bands are the mean, the spread, each quantile, then any members (K, NaN
    nodata), each band described, the dataset's attributes as tags."""
    if path.suffix == ".nc":
        encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
        ds.to_netcdf(path, encoding=encoding)
        return
    parts = [ds["t2m_mean"], ds["t2m_spread"]]
    names = ["t2m ensemble mean", "t2m ensemble spread"]
    for q in ds["quantile"].values if "quantile" in ds.dims else []:
        parts.append(ds["t2m_quantile"].sel(quantile=q, drop=True))
        names.append(f"t2m quantile {q:g}")
    for m in ds["member"].values if "member" in ds.dims else []:
        parts.append(ds["t2m"].sel(member=m, drop=True))
        names.append(f"t2m member {m}")
    bands = xr.concat([p.drop_vars([c for c in p.coords if c not in ("x", "y", "spatial_ref")]) for p in parts], "band")
    bands = bands.assign_coords(band=np.arange(1, len(parts) + 1))
    bands.attrs = {"long_name": tuple(names), "units": "K"}
    bands = bands.rio.write_crs(ds.rio.crs).rio.write_nodata(np.nan, encoded=False)
    tags = {"units": "K", **{k: str(v) for k, v in ds.attrs.items()}}
    bands.rio.to_raster(path, driver="COG", tags=tags, compress="DEFLATE")
