"""The verification report: one self-contained `report.html` (matplotlib PNGs embedded as base64, no external
files or scripts), `metrics.csv` (the tidy table of `tm_weather.verify.evaluate.score_table`) and
`metrics.json` (the same rows, plus the scorecard, rank histogram, unavailable baselines and provenance).

Sections: scorecard against every baseline (relative difference, green where the model is better), RMSE and
bias against lead time, bias and error maps, rank histogram and spread-skill, example tiles side by side
(S-2 RGB | ensemble mean | spread | truth | error), and the breakdowns by tile, land cover, hour and season.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tm_weather import __version__  # noqa: E402
from tm_weather.outputs import write_text  # noqa: E402
from tm_weather import metrics as M  # noqa: E402
from tm_weather.verify.evaluate import MODEL, Verification, rank_histogram  # noqa: E402
from tm_weather.verify.prediction import LEAD  # noqa: E402

#: Scorecard metrics and whether larger is better ("bias" compares magnitudes).
SCORECARD = {"RMSE": False, "MAE": False, "bias": False, "CRPS": False, "ACC": True}
BREAKDOWNS = ("tile", "land cover", "hour of day (UTC)", "season")
#: Tiles shown in the maps and examples (the first ones).
MAX_TILES = 4


def write_report(out: Path, v: Verification, table: pd.DataFrame, provenance: dict) -> None:
    """Write metrics.csv, metrics.json and report.html into `out` (created), all rendered before the first is
    written, each through `tm_weather.outputs`."""
    card = scorecard(table)
    hist = rank_histogram(v)
    sections = [
        ("Scorecard", _scorecard_html(card, v.unavailable)),
        ("RMSE and bias against lead time", "<p>By the prediction's lead time; the baselines at the same valid "
         "times (each at its own lead: GFS the run nearest 12 h ahead).</p>" + _img(_lead_figure(table))),
        ("Bias and error maps", _maps(v)),
        ("Rank histogram and spread-skill", _img(_ensemble_figure(v, table, hist))),
        ("Example tiles", _examples(v)),
        ("Breakdowns", "".join(_breakdown_html(table, b) for b in BREAKDOWNS if b in set(table["breakdown"]))),
    ]
    written = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta = provenance | {"tm_weather": __version__, "written": written}
    files = {  # every file rendered first, so a failure to render writes nothing
        "metrics.csv": table.to_csv(index=False),
        "metrics.json": json.dumps({
            "provenance": meta,
            "scorecard": card.to_dict(orient="records"),
            "rank_histogram": hist.values.tolist(),
            "unavailable_baselines": v.unavailable,
            "metrics": table.to_dict(orient="records"),
        }, indent=1, default=_json_default),
        "report.html": _page(v, sections, meta),
    }
    for name, text in files.items():  # report.html last: its presence means the report is complete
        write_text(out / name, text)


def _json_default(x):
    return None if isinstance(x, float) and np.isnan(x) else str(x)


def scorecard(table: pd.DataFrame) -> pd.DataFrame:
    """baseline, metric, model, value (the baseline's), relative (model vs baseline: < 0 model better, on
    |bias| for bias, sign flipped for ACC), n: from the table's 'scorecard vs' rows."""
    rows = []
    for breakdown, part in table[table["breakdown"].str.startswith("scorecard vs ")].groupby("breakdown", sort=False):
        baseline = breakdown.removeprefix("scorecard vs ")
        for metric, higher_better in SCORECARD.items():
            pick = part[part["metric"] == metric].set_index("system")
            if not {MODEL, baseline} <= set(pick.index):
                continue
            m, b = float(pick.loc[MODEL, "value"]), float(pick.loc[baseline, "value"])
            mm, bb = (abs(m), abs(b)) if metric == "bias" else (m, b)
            rel = (mm - bb) / abs(bb) if bb else np.nan
            rows.append(dict(baseline=baseline, metric=metric, model=m, value=b,
                             relative=-rel if higher_better else rel, n=int(pick.loc[MODEL, "n"])))
    return pd.DataFrame(rows, columns=["baseline", "metric", "model", "value", "relative", "n"])


def _colour(rel: float) -> str:
    """Green (model better, rel < 0) to red, saturating at 50 %."""
    if not np.isfinite(rel):
        return "#eeeeee"
    s = min(abs(rel) / 0.5, 1.0)
    r, g, b = (int(255 - s * (255 - c)) for c in ((46, 160, 67) if rel < 0 else (207, 34, 46)))
    return f"#{r:02x}{g:02x}{b:02x}"


def _scorecard_html(card: pd.DataFrame, unavailable: dict[str, str]) -> str:
    head = ("<p>Each cell: the model | the baseline on their common samples, and the model's relative difference "
            "(negative = model better; |bias| compared; ACC: higher is better, sign flipped). Green: the model is "
            "better. Units: K, ACC unitless. CRPS of a deterministic baseline is its mean absolute error.</p>")
    if card.empty:
        return head + "<p>No baseline could be computed.</p>" + _unavailable_html(unavailable)
    baselines = list(dict.fromkeys(card["baseline"]))
    rows = ["<tr><th>metric</th>" + "".join(f"<th>vs {html.escape(b)}</th>" for b in baselines) + "</tr>"]
    for metric in SCORECARD:
        cells = []
        for b in baselines:
            r = card[(card["baseline"] == b) & (card["metric"] == metric)]
            if r.empty:
                cells.append("<td>–</td>")
                continue
            r = r.iloc[0]
            cells.append(f'<td style="background:{_colour(r.relative)}">{r.model:.3f} | {r.value:.3f}<br>'
                         f"<b>{r.relative:+.0%}</b> <small>n={r.n}</small></td>")
        rows.append(f"<tr><th>{metric}</th>{''.join(cells)}</tr>")
    return head + f"<table class=card>{''.join(rows)}</table>" + _unavailable_html(unavailable)


def _unavailable_html(unavailable: dict[str, str]) -> str:
    if not unavailable:
        return ""
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in unavailable.items())
    return f"<p>Baselines not available for this run:</p><ul>{items}</ul>"


def _img(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _lead_figure(table: pd.DataFrame) -> plt.Figure:
    lead = table[table["breakdown"] == "lead time (h)"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, metric in zip(axes, ("RMSE", "bias")):
        for system, part in lead[lead["metric"] == metric].groupby("system", sort=False):
            part = part.assign(h=part["group"].astype(float)).sort_values("h")
            style = dict(lw=2.5, color="k", marker="o") if system == MODEL else dict(lw=1.3, marker=".")
            ax.plot(part["h"], part["value"], label=system, **style)
        ax.set(xlabel="lead time (h)", ylabel=f"{metric} (K)", title=f"{metric} against lead time")
        ax.grid(alpha=0.3)
        if metric == "bias":
            ax.axhline(0, color="grey", lw=0.8)
    axes[0].legend(fontsize=8)
    return fig


def _gridded(v: Verification) -> bool:
    return {"y", "x"} <= set(v.obs.dims)


def _maps(v: Verification) -> str:
    if not _gridded(v):
        return "<p>The truth is a set of stations: no maps (see the tables).</p>"
    err = v.mean - v.obs
    bias, rmse = err.mean(LEAD), np.sqrt((err**2).mean(LEAD))
    tiles = list(v.obs["tile"].values[:MAX_TILES])
    fig, axes = plt.subplots(2, len(tiles), figsize=(3.4 * len(tiles), 6.4), squeeze=False)
    lim = float(np.nanmax(np.abs(bias.values))) or 1.0
    for j, tile in enumerate(tiles):
        a = axes[0, j].imshow(bias.sel(tile=tile), cmap="RdBu_r", vmin=-lim, vmax=lim)
        b = axes[1, j].imshow(rmse.sel(tile=tile), cmap="magma_r", vmin=0, vmax=float(np.nanmax(rmse.values)))
        axes[0, j].set_title(f"{tile}: bias (K)")
        axes[1, j].set_title(f"{tile}: RMSE (K)")
        for ax in axes[:, j]:
            ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(a, ax=axes[0].tolist(), shrink=0.8)
    fig.colorbar(b, ax=axes[1].tolist(), shrink=0.8)
    block = v.predictions[0].t2m.sizes["y"] // v.obs.sizes["y"]
    note = f"<p>Ensemble mean minus truth over all lead times, on the verification blocks ({block} x {block} pixels)</p>"
    return note + _img(fig)


def _ensemble_figure(v: Verification, table: pd.DataFrame, hist) -> plt.Figure:
    fig, (h, s) = plt.subplots(1, 2, figsize=(13, 4.2))
    ranks = hist["rank"].values
    h.bar(ranks, hist.values, color="steelblue")
    h.axhline(1 / len(ranks), color="k", ls="--", lw=1, label="calibrated")
    h.set(xlabel="rank of the truth among the members", ylabel="relative frequency", title="rank histogram")
    h.legend()
    spread = np.sqrt(v.fcst.var(M.MEMBER, ddof=1).where(v.obs.notnull()).mean(["tile", *v.obs.dims[2:]]))
    lead_h = v.obs[LEAD] / np.timedelta64(1, "h")
    rows = table[(table["breakdown"] == "lead time (h)") & (table["system"] == MODEL)]
    rmse = rows[rows["metric"] == "RMSE"].assign(h=lambda d: d["group"].astype(float)).sort_values("h")
    ratio = rows[rows["metric"] == "spread-skill"].assign(h=lambda d: d["group"].astype(float)).sort_values("h")
    s.plot(lead_h, spread, "o-", label="ensemble spread (K)")
    s.plot(rmse["h"], rmse["value"], "s-", label="RMSE of the ensemble mean (K)")
    s.plot(ratio["h"], ratio["value"], "k^--", label="spread-skill ratio")
    s.set(xlabel="lead time (h)", title="spread and skill")
    s.grid(alpha=0.3)
    s.legend(fontsize=8)
    return fig


def _examples(v: Verification) -> str:
    n = min(len(v.cases), MAX_TILES)
    titles = ("S-2 RGB", "ensemble mean (K)", "ensemble spread (K)", "truth (K)", "error: mean - truth (K)")
    fig, axes = plt.subplots(n, 5, figsize=(17, 3.4 * n), squeeze=False)
    for i, (case, pred) in enumerate(zip(v.cases[:n], v.predictions[:n])):
        rgb = case.s2().sel(band=["B04", "B03", "B02"]).transpose("y", "x", "band").values
        axes[i, 0].imshow(np.clip(np.nan_to_num(rgb) / 0.3, 0, 1))
        first = pred.t2m.isel({LEAD: 0})
        mean, spread = first.mean(M.MEMBER), first.std(M.MEMBER, ddof=1)
        truth = v.obs.sel(tile=case.name).isel({LEAD: 0})
        lo, hi = np.nanpercentile(np.concatenate([mean.values.ravel(), truth.values.ravel()]), [1, 99])
        extent = (0, case.grid.shape[1], case.grid.shape[0], 0)
        axes[i, 1].imshow(mean, cmap="inferno", vmin=lo, vmax=hi)
        axes[i, 2].imshow(spread, cmap="viridis")
        if _gridded(v):
            err = v.mean.sel(tile=case.name).isel({LEAD: 0}) - truth
            lim = float(np.nanmax(np.abs(err.values))) or 1.0
            axes[i, 3].imshow(truth, cmap="inferno", vmin=lo, vmax=hi, extent=extent)
            axes[i, 4].imshow(err, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=extent)
        else:
            err = v.mean.sel(tile=case.name).isel({LEAD: 0}) - truth
            for ax, what in ((axes[i, 3], truth.values), (axes[i, 4], err.values)):
                ax.text(0.5, 0.5, "\n".join(f"{x:.2f}" for x in what), ha="center", va="center", transform=ax.transAxes)
        for j, im in enumerate(axes[i, 1:].tolist(), start=1):
            if im.images:
                fig.colorbar(im.images[0], ax=im, shrink=0.75)
        valid = pd.Timestamp(pred.valid_time[0]).strftime("%Y-%m-%d %H:%M")
        for j, ax in enumerate(axes[i]):
            ax.set_title(f"{case.name} {valid}: {titles[j]}" if j == 0 else titles[j], fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    return f"<p>First lead time of each tile.</p>{_img(fig)}"


def _breakdown_html(table: pd.DataFrame, breakdown: str) -> str:
    """One table per metric (RMSE, bias): a row per group, a column per system."""
    out = f"<h3>by {html.escape(breakdown)}</h3>"
    for metric in ("RMSE", "bias"):
        part = table[(table["breakdown"] == breakdown) & (table["metric"] == metric)]
        pivot = part.pivot_table(index="group", columns="system", values="value", sort=False)
        pivot.index.name, pivot.columns.name = breakdown, None
        out += f"<p>{metric} (K)</p>" + pivot.to_html(float_format="{:.3f}".format, na_rep="–")
    return out


def _page(v: Verification, sections: list[tuple[str, str]], meta: dict) -> str:
    tiles = ", ".join(c.name for c in v.cases)
    span = f"{pd.Timestamp(np.nanmin(v.valid_time.values))} .. {pd.Timestamp(np.nanmax(v.valid_time.values))}"
    members = v.fcst.sizes[M.MEMBER]
    body = "".join(f"<h2>{html.escape(t)}</h2>{s}" for t, s in sections)
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(x))}</td></tr>" for k, x in meta.items())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tm-weather verification</title><style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1300px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
table.card td {{ text-align: center; min-width: 9em; }}
img {{ max-width: 100%; }}
h2 {{ border-bottom: 2px solid #444; margin-top: 1.6em; }}
</style></head><body>
<h1>T2M verification</h1>
<p>Tiles: {html.escape(tiles)}; valid {span} UTC; {members} members; {v.obs.count().item()} verified
samples (tile x lead time x place).</p>
<table>{facts}</table>
{body}
</body></html>
"""
