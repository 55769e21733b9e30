"""What makes the world a benchmark, on its test split: each term's share of the variance of the tile mean and of
the within-tile anomaly, and the RMSE of the non-learned baselines (GFS at the tile; GFS + lapse rate from its
orography to the DEM; the oracle, which adds the world's true surface terms minus GFS's grid-scale ones) in total
and inside the tile (each field minus its tile mean, where a flat field and the lapse rate over the DEM are the
reference). Everything is accumulated as sums, so a large world is scored without keeping its fields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tm_weather.world.physics import TERMS

#: Leads (hours) of the per-lead rows.
REPORT_LEADS = (0, 6, 12)
#: Rows of the baseline table, in order: (key, label).
ROWS = (
    ("gfs", "GFS at the tile (latest run, lead 0-5 h)"),
    ("gfs_lapse", "GFS + lapse rate, orography -> DEM"),
    ("oracle", "oracle: GFS + lapse + true surface terms"),
    *[(f"gfs_lapse_f{lead:03d}", f"  GFS + lapse, all runs at f{lead:03d}") for lead in REPORT_LEADS],
    *[(f"oracle_f{lead:03d}", f"  oracle, all runs at f{lead:03d}") for lead in REPORT_LEADS],
    ("space_flat", "inside the tile: a flat field"),
    ("space_lapse", "inside the tile: lapse rate over the DEM"),
    ("space_gfs_lapse", "inside the tile: GFS + lapse"),
    ("space_oracle", "inside the tile: oracle"),
)


@dataclass
class Moments:
    """Running sums for the additive variance partition of a total into named terms."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    term: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TERMS, 0.0))
    term_sq: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TERMS, 0.0))
    cross: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TERMS, 0.0))

    def add(self, terms: dict[str, np.ndarray]) -> None:
        total = sum(np.asarray(terms[t], np.float64) for t in TERMS)
        self.n += total.size
        self.total += float(total.sum())
        self.total_sq += float((total**2).sum())
        for t in TERMS:
            v = np.asarray(terms[t], np.float64)
            self.term[t] += float(v.sum())
            self.term_sq[t] += float((v**2).sum())
            self.cross[t] += float((v * total).sum())

    @property
    def variance(self) -> float:
        return self.total_sq / self.n - (self.total / self.n) ** 2

    def share(self, t: str) -> float:
        """cov(term, total) / var(total): the shares sum to 1; a term that offsets others has a negative one."""
        return (self.cross[t] / self.n - self.term[t] / self.n * self.total / self.n) / self.variance

    def sd(self, t: str) -> float:
        return float(np.sqrt(max(self.term_sq[t] / self.n - (self.term[t] / self.n) ** 2, 0.0)))


@dataclass
class Scores:
    """Test-split accumulators: `mean` (tile-hour means of each term), `anomaly` (each 40 m cell minus its tile
    mean), `errors`: row key -> [count, sum of squared errors] (K^2)."""

    mean: Moments = field(default_factory=Moments)
    anomaly: Moments = field(default_factory=Moments)
    errors: dict[str, list[float]] = field(default_factory=lambda: {k: [0, 0.0] for k, _ in ROWS})

    def add_truth(self, terms: dict[str, np.ndarray], lapse_anomaly: np.ndarray) -> None:
        """One test tile's terms `(hour, cell)` and the lapse rate over its DEM minus its tile mean `(cell,)`."""
        means = {t: np.asarray(v).mean(-1, keepdims=True) for t, v in terms.items()}
        self.mean.add({t: v[:, 0] for t, v in means.items()})
        self.anomaly.add({t: terms[t] - means[t] for t in TERMS})
        truth = sum(terms[t] for t in TERMS)
        anomaly = truth - truth.mean(-1, keepdims=True)
        self.add_error("space_flat", -anomaly)
        self.add_error("space_lapse", lapse_anomaly[None] - anomaly)

    def add_error(self, key: str, error: np.ndarray) -> None:
        self.errors[key][0] += error.size
        self.errors[key][1] += float(np.sum(np.asarray(error, np.float64) ** 2))

    def rmse(self) -> dict[str, float]:
        return {k: float(np.sqrt(s / n)) if n else float("nan") for k, (n, s) in self.errors.items()}

    def table(self) -> str:
        """The printed table: shares of variance (tile mean, within-tile anomaly), then the baselines' RMSE."""
        lines = [f"{'term':<12}{'tile mean: share':>18}{'sd (K)':>9}{'in tile: share':>17}{'sd (K)':>9}"]
        for t in TERMS:
            lines.append(f"{t:<12}{self.mean.share(t):>18.3f}{self.mean.sd(t):>9.2f}"
                         f"{self.anomaly.share(t):>17.3f}{self.anomaly.sd(t):>9.2f}")
        lines.append(f"{'t2m':<12}{1:>18.3f}{np.sqrt(self.mean.variance):>9.2f}{1:>17.3f}{np.sqrt(self.anomaly.variance):>9.2f}")
        lines.append(f"(test split: {self.mean.n} tile-hours, {self.anomaly.n} cell-hours of 40 m truth)")
        lines.append("")
        lines.append(f"{'baseline on the test split':<52}{'RMSE (K)':>10}")
        rmse = self.rmse()
        lines += [f"{label:<52}{rmse[key]:>10.2f}" for key, label in ROWS]
        return "\n".join(lines)
