"""Sources as protocols: a new source class plugs into ingest without editing it, and the catalog kinds are
written once (the configs' `kind` literals), mapped to classes by config type."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import numpy as np
import xarray as xr
import yaml

import tm_weather
from tm_weather.catalog import _SOURCE_KINDS, Catalog, FieldFileConfig, SourceConfig, load_catalog
from tm_weather.ingest import ingest
from tm_weather.lexicon import T2M, T2M_ATTRS
from tm_weather.sources import SOURCE_CLASSES, open_source
from tm_weather.sources.base import ANALYSIS
from tm_weather.store import Store

HOURS = np.array(["2020-05-01T00", "2020-05-01T01"], dtype="datetime64[ns]")


class FakeAnalysis:
    """A source no module of the package knows: 280 K + the hour, on a 1-degree lat/lon grid over the UK."""

    dims, remote = ANALYSIS, False

    def __init__(self, config: FieldFileConfig, catalog: Catalog):
        self.name = "fake"

    def times(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        return HOURS[(HOURS >= start) & (HOURS <= end)]

    def __call__(self, times: Sequence[np.datetime64]) -> xr.DataArray:
        times = np.asarray(times, dtype="datetime64[ns]")
        hour = (times - times.astype("datetime64[D]")) / np.timedelta64(1, "h")
        values = np.broadcast_to((280 + hour)[:, None, None], (len(times), 4, 5)).astype(np.float32)
        da = xr.DataArray(values, dims=ANALYSIS, name=T2M, attrs=dict(T2M_ATTRS),
                          coords={"time": times, "y": np.arange(50.0, 54.0), "x": np.arange(-3.0, 2.0)})
        return da.rio.write_crs("EPSG:4326")


def test_a_new_source_class_is_ingested_without_editing_ingest(tmp_path, monkeypatch):
    monkeypatch.setitem(SOURCE_CLASSES, FieldFileConfig, f"{__name__}:FakeAnalysis")
    doc = {"store": "store.zarr", "cache_dir": "cache", "sources": {"mine": {"kind": "field_file", "paths": ["x.nc"]}},
           "sites": [{"name": "london", "lat": 51.5, "lon": -0.1}]}
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(doc))
    catalog = load_catalog(tmp_path / "catalog.yaml")
    assert isinstance(open_source("mine", catalog.sources["mine"], catalog), FakeAnalysis)
    report = ingest(catalog, progress=False)
    assert report.written == ["hourly/mine/2020-05-01"]
    stored = Store(tmp_path / "store.zarr").read("hourly", "mine")
    np.testing.assert_allclose(stored[T2M].sel(site="london").values, [280.0, 281.0])


def test_every_catalog_config_has_one_source_class():
    assert set(SOURCE_CLASSES) == set(get_args(get_args(SourceConfig)[0]))


def test_the_kinds_are_written_only_in_the_catalog():
    """No list of kinds and no comparison with a kind outside `catalog.py`: callers ask the source what it is."""
    found = []
    for path in Path(tm_weather.__file__).parent.rglob("*.py"):
        if path.name == "catalog.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
                kinds = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in _SOURCE_KINDS]
                if len(kinds) > 1:
                    found.append(f"{path.name}:{node.lineno} lists {kinds}")
            elif isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(isinstance(o, ast.Attribute) and o.attr == "kind" for o in operands) and any(
                        isinstance(o, ast.Constant) and o.value in _SOURCE_KINDS for o in operands):
                    found.append(f"{path.name}:{node.lineno} compares a kind")
    assert found == []
