from pathlib import Path

import pytest
import yaml

from tm_weather.catalog import load_catalog
from tm_weather.errors import InputError

BASE = {
    "store": "store/x.zarr",
    "cache_dir": "cache",
    "sources": {"era5": {"kind": "era5_file", "paths": ["a.grib"]}, "gfs": {"kind": "gfs"}},
    "sites": [{"name": "lacrosse", "lat": 43.88, "lon": -91.25}],
    "tiles": [{"name": "t1", "s2": "t1.tif"}, {"name": "t2", "s2": "t2.tif"}],
    "splits": {"train": {"tiles": ["t1"]}, "test": {"tiles": ["t2"], "start": "2019-03-20", "end": "2019-03-21"}},
}


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_valid_catalog_resolves_paths_and_defaults(tmp_path):
    cat = load_catalog(write(tmp_path, BASE))
    assert cat.path(cat.store) == tmp_path / "store" / "x.zarr"
    assert cat.sources["gfs"].fxx == list(range(13))
    assert cat.sites[0].lat == 43.88


@pytest.mark.parametrize(
    "mutate, key, expected",
    [
        (lambda d: d["sites"][0].update(elev=3), "sites[0].elev", "a known key"),
        (lambda d: d["sources"]["gfs"].update(fxx=[0, -1]), "sources.gfs.fxx[1]", "greater than or equal to 0"),
        (lambda d: d["sources"]["era5"].update(paths=[]), "sources.era5.paths", "at least 1 item"),
        (lambda d: d["sites"][0].update(lat=95), "sites[0].lat", "less than or equal to 90"),
        (lambda d: d["sources"].update(x={"kind": "nope"}), "sources.x", "tag"),
        (lambda d: d["splits"]["test"].update(tiles=["t1"]), "splits", "both splits"),
        (lambda d: d.pop("store"), "store", "required"),
    ],
)
def test_bad_catalog_names_key_path(tmp_path, mutate, key, expected):
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(InputError) as err:
        load_catalog(path)
    msg = str(err.value)
    assert str(path) in msg and key in msg and expected in msg, msg
