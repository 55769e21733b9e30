"""The demo as a library call (`tm_weather.jobs.demo.run_demo`), on the tiny world with 2-member ensembles and an
embedded catalog cut down to the ISD fixture (the demo's ingest of it writes a store of its own)."""

from __future__ import annotations

import json

import yaml

from model_support import one_thread  # noqa: F401  (fixture: one torch thread, 10x faster generation here)
from tm_weather.jobs.demo import EVERY_H, run_demo
from tm_weather.shipped import FIXTURES


def test_run_demo_writes_the_generations_and_a_report_with_the_models_metrics(tmp_path, no_network):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({
        "store": str(tmp_path / "store.zarr"), "cache_dir": str(tmp_path / "cache"),
        "sources": {"isd": {"kind": "isd", "paths": [str(FIXTURES / "isd" / "726430-14920-2015")]}},
        "sites": [{"name": "la_crosse", "lat": 43.88, "lon": -91.25}]}))
    said: list[str] = []

    result = run_demo(tmp_path / "demo", catalog, members=2, seed=0, preset="tiny", progress=said.append)

    assert [s.split("]")[0].strip() for s in said if s.startswith("\n[")] == [f"[{n}/5" for n in range(1, 6)]
    assert list(result.seconds) == ["ingest", "world", "ingest world", "generate", "verify"]
    assert result.store == tmp_path / "store.zarr" and result.store.is_dir()
    assert (result.world / "catalog.yaml").is_file()
    hours = [f"{h:02d}" for h in range(0, 24, EVERY_H)]
    assert [p.name for p in result.predictions] == [f"tile03_{h}.nc" for h in hours]  # the tiny world's test tile
    assert result.report == tmp_path / "demo" / "report" / "report.html" and result.report.is_file()
    doc = json.loads((result.report.parent / "metrics.json").read_text())
    model = {r["metric"]: r["value"] for r in doc["metrics"] if r["system"] == "model" and r["breakdown"] == "all"}
    assert {"RMSE", "MAE", "bias", "CRPS"} <= set(model) and 0 < model["RMSE"] < 5
    leads = {int(r["group"]) for r in doc["metrics"] if r["system"] == "model" and r["breakdown"] == "lead time (h)"}
    assert leads == set(range(0, 24, EVERY_H))
    assert doc["provenance"]["catalog"] == str(result.world / "catalog.yaml")
