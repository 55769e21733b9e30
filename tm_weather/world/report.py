"""What makes the world a benchmark: each term's share of T2M variance and the RMSE of the best non-learned
baseline (GFS bilinearly interpolated to the truth cell + lapse-rate correction to the cell's height) on the test
split, by lead time, and with the land-cover terms that Sentinel-2 shows (an oracle: what S-2 could add)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tm_weather.world.physics import TERMS

#: Leads (hours) shown as rows of the baseline table.
REPORT_LEADS = (0, 6, 12)
LAND_COVER_TERMS = ("water", "urban", "forest", "snow")


@dataclass
class Scores:
    """Accumulates test-split samples. terms: term -> list of `(sample,)` K; errors: lead -> list of baseline
    errors (baseline - truth, K); oracle_errors: the same after adding the true sub-grid land-cover effects."""

    terms: dict[str, list[np.ndarray]] = field(default_factory=lambda: {t: [] for t in TERMS})
    errors: dict[int, list[np.ndarray]] = field(default_factory=dict)
    oracle_errors: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def add_truth(self, terms: dict[str, np.ndarray]) -> None:
        for name in TERMS:
            self.terms[name].append(np.ravel(terms[name]))

    def add_baseline(self, lead: int, error: np.ndarray, oracle_error: np.ndarray) -> None:
        self.errors.setdefault(lead, []).append(np.ravel(error))
        self.oracle_errors.setdefault(lead, []).append(np.ravel(oracle_error))

    def shares(self) -> dict[str, float]:
        """term -> cov(term, t2m) / var(t2m) over the test samples: the additive partition of T2M's variance
        (the shares sum to 1; a term that offsets others, as height offsets latitude, can have a negative one)."""
        values = {t: np.concatenate(v) for t, v in self.terms.items()}
        total = sum(values.values())
        anomaly = total - total.mean()
        return {t: float(np.mean((v - v.mean()) * anomaly) / np.var(total)) for t, v in values.items()}

    def rmse(self) -> dict[str, float]:
        """Rows of the baseline table -> RMSE (K): the baseline and the baseline plus the true sub-grid land-cover
        terms, at `REPORT_LEADS` and over all leads."""
        rows = {}
        for label, leads in [(f"f{lead:03d}", [lead]) for lead in REPORT_LEADS] + [("f000-f012", sorted(self.errors))]:
            rows[f"GFS+lapse baseline, {label}"] = _rmse([e for lead in leads for e in self.errors[lead]])
            rows[f"  + true land-cover terms (what S-2 adds), {label}"] = _rmse(
                [e for lead in leads for e in self.oracle_errors[lead]]
            )
        return rows

    def table(self) -> str:
        """The printed table: shares of variance, then baseline RMSEs."""
        values = {t: np.concatenate(v) for t, v in self.terms.items()}
        lines = [f"{'term':<12}{'share of T2M variance':>24}{'sd (K)':>10}"]
        for name, share in self.shares().items():
            lines.append(f"{name:<12}{share:>24.3f}{np.std(values[name]):>10.2f}")
        lines.append(f"{'t2m':<12}{1:>24.3f}{np.std(sum(values.values())):>10.2f}")
        lines.append(f"(test split: {values['noise'].size} cell-hours of 2.5 km truth)")
        lines.append("")
        lines.append(f"{'baseline on the test split':<56}{'RMSE (K)':>10}")
        lines += [f"{row:<56}{value:>10.2f}" for row, value in self.rmse().items()]
        return "\n".join(lines)


def _rmse(errors: list[np.ndarray]) -> float:
    e = np.concatenate(errors)
    return float(np.sqrt(np.mean(e**2)))
