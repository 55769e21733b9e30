"""Issue 18, a hostile but realistic user: every case they found (items 2 and 4-12; item 1 is in test_store.py and
test_ingest.py, item 3 in the GRIB layer's tests) ends with exit status 2 and a message naming the file or the
argument, and leaves every folder as it was (hashed before and after)."""

from __future__ import annotations

import errno
import json
import logging
import types
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import requests
import xarray as xr
import yaml
from rasterio.transform import from_origin

from daily_support import NO_MODEL, small_catalog, tiny_world
from model_support import SMALL, one_thread, write_small_checkpoint  # noqa: F401  (fixture)
from test_store import tree_hash
from tm_weather.checkpoint_io import save_safetensors
from tm_weather.cli import main
from tm_weather.errors import EXIT_INPUT, EXIT_OK, InputError
from tm_weather.jobs.daily import Retry, _fetch
from tm_weather.jobs.runlog import RunLog, read_log
from tm_weather.model import MAX_MEMBERS, MAX_STEPS
from tm_weather.tiles import read_tile
from tm_weather.model.transformer import MODALITIES, MODALITY_ID, MultiModalTransformer
from tm_weather.outputs import atomic_file, write_text

TILE = "38D_378R_2_3.tif"
ACQUIRED = "2023-06-10T07:46:21"  # the datetime tag of the tile's S2RGB sibling


def cli(argv: list[str]) -> int:
    """`main(argv)`'s exit status, argparse's usage errors (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def ck(tmp_path_factory) -> Path:
    """The small transformer checkpoint; its tokenizers beside it."""
    return write_small_checkpoint(tmp_path_factory.mktemp("ck"))


@pytest.fixture
def tiles(data_dir) -> Path:
    return data_dir / "sentinel2" / "terramind-examples"


def tif_copy(src: Path, dst: Path, edit=lambda data: data, tagged: bool = True, **profile) -> Path:
    """`src` written to `dst` with its pixels `edit`ed and `profile` entries replaced; `tagged`: with the
    acquisition time as its own datetime tag (a copy has no siblings to take it from)."""
    with rasterio.open(src) as f:
        prof, data = f.profile, f.read()
    data = edit(data)
    prof.update(dtype=str(data.dtype), **profile)
    with rasterio.open(dst, "w", **prof) as f:
        f.write(data)
        if tagged:
            f.update_tags(datetime=ACQUIRED)
    return dst


def generate_args(ck: Path, s2: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--s2", str(s2), "--time", "2023-06-10T12:00", "--members", "2", "--steps", "1", "--seed", "0",
            "--boa-add-offset", "0", "--checkpoint", str(ck), "--tokenizers", str(ck.parent), "--out", str(out), *extra]


def no_work(monkeypatch):
    """Fail the test if generation gets as far as loading the model (the output path is checked first)."""
    def load_model(path):
        raise AssertionError("the model was loaded before the output path was checked")

    monkeypatch.setattr("tm_weather.model.transformer.load_model", load_model)
    monkeypatch.setattr("tm_weather.model.generator.load_model", load_model)  # what `Generator.load` calls


# --------------------------------------------------------------------------------- 2: source names


@pytest.mark.parametrize("name", ["gfs/2011", ".", "", "../escape"])
def test_2_source_names_must_be_safe_path_parts(tmp_path, data_dir, capsys, name):
    catalog = {"store": "store.zarr", "cache_dir": "cache",
               "sources": {name: {"kind": "grib_file", "paths": [str(data_dir / "gfs" / "gfs.t12z.pgrbf120.2p5deg.grib2")]}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(catalog))
    before = tree_hash(tmp_path)
    assert cli(["ingest", "--catalog", str(tmp_path / "c.yaml"), "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "c.yaml" in err and f"sources.{name} (the name)" in err and "not starting with '.'" in err
    assert tree_hash(tmp_path) == before and not (tmp_path.parent / "escape").exists()


# -------------------------------------------------------------------------------- 4: atomic outputs


@pytest.mark.parametrize("suffix", [".nc", ".tif"])
def test_4_a_full_disk_leaves_no_output_under_its_name(ck, tiles, tmp_path, monkeypatch, capsys, suffix):
    """The writer fails half way (ENOSPC): exit 2 naming the file, and no file at all, final or temporary."""
    def half_then_full(*args, **kwargs):
        path = next(a for a in args if isinstance(a, (str, Path)))
        Path(path).write_bytes(b"CDF\x01" + bytes(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    if suffix == ".nc":
        monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda self, path, *a, **k: half_then_full(path))
    else:
        monkeypatch.setattr("tm_weather.commands.generate._write_geotiff", lambda ds, path: half_then_full(path))
    out = tmp_path / "out" / f"t2m{suffix}"
    out.parent.mkdir()
    assert cli(generate_args(ck, tiles / "S2L2A" / TILE, out)) == EXIT_INPUT
    err = capsys.readouterr().err
    assert str(out) in err and "No space left on device" in err
    assert list(out.parent.iterdir()) == []


def test_4_the_atomic_writer_leaves_the_old_file_or_the_new_one_never_a_part(tmp_path):
    (tmp_path / "report.html").write_text("the old report")
    with pytest.raises(InputError, match="report.html: write: expected room and permission"):
        with atomic_file(tmp_path / "report.html") as tmp:
            tmp.write_text("half of the new")
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(KeyError):
        with atomic_file(tmp_path / "report.html") as tmp:
            tmp.write_text("half of the new")
            raise KeyError("a bug")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"] and (tmp_path / "report.html").read_text() == "the old report"
    write_text(tmp_path / "report.html", "the new report")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"] and (tmp_path / "report.html").read_text() == "the new report"


# ------------------------------------------------------------------------ 5, 6: masked S-2 and DEM


def test_5_an_all_nodata_tile_is_refused_naming_the_share(ck, tiles, tmp_path, capsys):
    s2 = tif_copy(tiles / "S2L2A" / TILE, tmp_path / "s2.tif", lambda d: np.zeros_like(d))
    out = tmp_path / "out" / "t2m.nc"
    before = tree_hash(tmp_path)
    assert cli(generate_args(ck, s2, out)) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{s2}: valid pixels: expected at least 50% pixels with data in every band, found 0.0%" in err
    assert tree_hash(tmp_path) == before and not out.parent.exists()


def test_5_a_partly_masked_tile_is_filled_with_the_valid_mean_and_says_so(tiles, tmp_path, caplog):
    def mask_left_third(data):
        data = data.copy()
        data[:, :, :75] = 0
        return data

    s2 = tif_copy(tiles / "S2L2A" / TILE, tmp_path / "s2.tif", mask_left_third)
    with caplog.at_level(logging.WARNING):
        tile = read_tile(s2, boa_add_offset=0)
    share = 75 / 224
    assert tile.filled["input_s2_masked_share"] == f"{share:.4f}" and "filled with the mean" in caplog.text
    with rasterio.open(s2) as f:
        valid = f.read()[:, :, 75:].astype(np.float64) / 10000
    np.testing.assert_allclose(tile.reflectance[:, :, :75], np.broadcast_to(valid.mean((1, 2))[:, None, None],
                                                                            (12, 224, 75)), rtol=1e-5)
    assert (tile.reflectance != 0).all()


def test_5_generate_records_the_masked_share(ck, tiles, tmp_path):
    def mask_corner(data):
        data = data.copy()
        data[:, :10, :10] = 0
        return data

    s2 = tif_copy(tiles / "S2L2A" / TILE, tmp_path / "s2.tif", mask_corner)
    out = tmp_path / "t2m.nc"
    assert cli(generate_args(ck, s2, out)) == EXIT_OK
    with xr.open_dataset(out) as ds:
        assert ds.attrs["input_s2_masked_share"] == f"{100 / 224**2:.4f}"


@pytest.mark.parametrize("case", ["all NaN", "all nodata", "half NaN"])
def test_6_a_dem_with_missing_heights_is_never_read_as_0_m(tiles, tmp_path, case):
    src = tiles / "DEM" / TILE
    with rasterio.open(src) as f:
        heights = f.read().astype(np.float32)
    if case == "all NaN":
        dem = tif_copy(src, tmp_path / "dem.tif", lambda d: np.full(d.shape, np.nan, np.float32))
    elif case == "all nodata":
        dem = tif_copy(src, tmp_path / "dem.tif", lambda d: np.full_like(d, -32768), nodata=-32768)
    else:
        half = heights.copy()
        half[:, 112:] = np.nan
        dem = tif_copy(src, tmp_path / "dem.tif", lambda d: half)
    if case != "half NaN":
        with pytest.raises(InputError, match=r"dem.tif: valid pixels: expected at least 50% finite heights .*found 0.0%"):
            read_tile(tiles / "S2L2A" / TILE, dem, boa_add_offset=0)
        return
    tile = read_tile(tiles / "S2L2A" / TILE, dem, boa_add_offset=0)
    assert tile.filled["input_dem_masked_share"] == "0.5000"
    np.testing.assert_allclose(tile.dem[112:], heights[0, :112].mean(), rtol=1e-5)
    np.testing.assert_array_equal(tile.dem[:112], heights[0, :112])


def test_6_generate_refuses_an_all_nan_dem(ck, tiles, tmp_path, capsys):
    dem = tif_copy(tiles / "DEM" / TILE, tmp_path / "dem.tif", lambda d: np.full(d.shape, np.nan, np.float32))
    before = tree_hash(tmp_path)
    assert cli(generate_args(ck, tiles / "S2L2A" / TILE, tmp_path / "t2m.nc", "--dem", str(dem))) == EXIT_INPUT
    assert f"{dem}: valid pixels" in capsys.readouterr().err and tree_hash(tmp_path) == before


# ------------------------------------------------------------------------------------ 7: time range


@pytest.mark.parametrize("time", ["9999-12-31", "1500-01-01T00:00", "0001-01-01"])
def test_7_generate_time_outside_datetime64_ns_is_refused(ck, tiles, tmp_path, capsys, monkeypatch, time):
    no_work(monkeypatch)
    args = generate_args(ck, tiles / "S2L2A" / TILE, tmp_path / "t2m.nc")
    args[args.index("--time") + 1] = time
    assert cli(args) == EXIT_INPUT
    assert "--time: value: expected a time on the UTC days 1678-01-01..2261-12-31" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def prediction(path: Path, valid: str = "2023-02-11T12:00", values: float = 280.0, **attrs) -> Path:
    """A prediction in `tm-weather generate`'s layout: t2m `(member, y, x)` K on a 4 x 4 UTM tile, a scalar valid
    `time`, `attrs` as global attributes."""
    t2m = xr.DataArray(np.full((2, 4, 4), values, np.float32), dims=("member", "y", "x"),
                       coords={"member": [0, 1], "y": 5e6 - 10 * np.arange(4.0), "x": 5e5 + 10 * np.arange(4.0),
                               "time": np.datetime64(valid, "ns")}, attrs={"units": "K"})
    ds = t2m.to_dataset(name="t2m").rio.write_crs("EPSG:32632").assign_attrs(tile="tile00", **attrs)
    ds.to_netcdf(path)
    return path


@pytest.fixture
def verify_catalog(tmp_path) -> Path:
    """A valid catalog (verify reads it first); predictions fail before its sources are opened."""
    path = tmp_path / "catalog" / "c.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"store": "s.zarr", "cache_dir": "cache",
                                    "sources": {"truth": {"kind": "isd", "paths": ["x"]}}}))
    return path


def verify_args(catalog: Path, pred: Path, out: Path, *extra: str) -> list[str]:
    return ["verify", "--pred", str(pred), "--truth", "truth", "--catalog", str(catalog), "--out", str(out), *extra]


@pytest.mark.parametrize("attr, message", [
    ("2023-02-12T00:00Z", "init_time: expected at or before the valid time (lead time >= 0), found a lead time of -12 h"),
    ("next tuesday", "init_time attribute: expected an ISO 8601 UTC time"),
    ("9999-12-31T00:00", "init_time attribute: expected a time on the UTC days"),
])
def test_7_10_verify_refuses_a_bad_or_later_init_time(tmp_path, verify_catalog, capsys, attr, message):
    pred = prediction(tmp_path / "p.nc", init_time=attr)
    before = tree_hash(tmp_path)
    assert cli(verify_args(verify_catalog, pred, tmp_path / "report")) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{pred}: {message}" in err and tree_hash(tmp_path) == before


# --------------------------------------------------------------------------- 8: generate's arguments


@pytest.mark.parametrize("flag, value", [("--time", ""), ("--steps", "0"), ("--steps", "-1"),
                                         ("--steps", str(MAX_STEPS + 1)), ("--seed", str(2**63)), ("--seed", "-1"),
                                         ("--members", "0"), ("--members", str(MAX_MEMBERS + 1))])
def test_8_12_bad_generate_arguments_are_usage_errors(ck, tiles, tmp_path, capsys, monkeypatch, flag, value):
    no_work(monkeypatch)
    args = generate_args(ck, tiles / "S2L2A" / TILE, tmp_path / "t2m.nc")
    args[args.index(flag) + 1] = value
    assert cli(args) == EXIT_INPUT
    assert flag in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_8_members_cap_and_steps_cap_are_the_models_own():
    assert MAX_STEPS == MODALITIES[MODALITY_ID["t2m_field"]].length  # one field token per step at most


@pytest.mark.parametrize("where", ["folder", "below a file", "read-only", "device"])
def test_8_an_unusable_out_is_refused_before_any_work(ck, tiles, tmp_path, capsys, monkeypatch, where):
    no_work(monkeypatch)
    (tmp_path / "a file").write_text("mine")
    (tmp_path / "folder.nc").mkdir()
    out = {"folder": tmp_path / "folder.nc", "below a file": tmp_path / "a file" / "t2m.nc",
           "read-only": Path("/sys/kernel/tm-weather-test/t2m.nc"), "device": None}[where]
    if where == "device":
        out = tmp_path / "null.nc"
        out.symlink_to("/dev/null")
    before = tree_hash(tmp_path)
    assert cli(generate_args(ck, tiles / "S2L2A" / TILE, out)) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"--out: {out}: expected" in err
    assert tree_hash(tmp_path) == before and (tmp_path / "a file").read_text() == "mine"


def test_8_a_tile_whose_centre_is_off_the_earth_is_refused(ck, tiles, tmp_path, capsys):
    s2 = tif_copy(tiles / "S2L2A" / TILE, tmp_path / "s2.tif", crs="EPSG:4326",
                  transform=from_origin(10.0, 200.0, 0.001, 0.001))
    before = tree_hash(tmp_path)
    assert cli(generate_args(ck, s2, tmp_path / "t2m.nc")) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{s2}: centre: expected a place on the Earth (latitude -90..90)" in err and tree_hash(tmp_path) == before


def _bad_checkpoints(ck: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Checkpoints a user may pass by mistake or find broken: path, and what the message must say."""
    state = {k: v.contiguous() for k, v in MultiModalTransformer(SMALL).state_dict().items()}
    config = json.dumps(SMALL.to_dict())
    tokenizers = yaml.safe_dump({"s2l2a": "0" * 64})
    out = {"a tokenizer file": (ck.parent / "s2l2a.safetensors", "checkpoint: expected a transformer checkpoint, found "
                                "a 's2l2a' tokenizer checkpoint")}
    for name, meta, message in [
        ("broken config JSON", {"config": config[:-3], "tokenizers": tokenizers}, "metadata config"),
        ("unknown config keys", {"config": json.dumps(SMALL.to_dict() | {"depth": 3}), "tokenizers": tokenizers},
         "unexpected keyword argument 'depth'"),
        ("mismatched shapes", {"config": json.dumps(SMALL.to_dict() | {"width": 64}), "tokenizers": tokenizers},
         "tensors: expected the weights of a transformer"),
        ("broken tokenizers metadata", {"config": config, "tokenizers": "s2l2a: [unclosed"}, "tokenizers metadata"),
        ("tokenizers metadata not a mapping", {"config": config, "tokenizers": "[1, 2]"}, "tokenizers metadata"),
    ]:
        path = folder / f"{name.replace(' ', '_')}.safetensors"
        save_safetensors(state, path, meta)
        out[name] = (path, message)
    return out


def test_8_checkpoints_that_are_not_a_transformer_are_refused_naming_the_file(ck, tiles, tmp_path, capsys):
    folder = tmp_path / "ck"
    folder.mkdir()
    for name, (path, message) in _bad_checkpoints(ck, folder).items():
        args = generate_args(ck, tiles / "S2L2A" / TILE, tmp_path / "out" / "t2m.nc")
        args[args.index("--checkpoint") + 1] = str(path)
        assert cli(args) == EXIT_INPUT, name
        err = capsys.readouterr().err
        assert f"{path}: " in err and message in err, (name, err)
        assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- 9: ingest


def _ingest(tmp_path: Path, catalog: dict) -> int:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(catalog))
    return cli(["ingest", "--catalog", str(tmp_path / "c.yaml"), "--quiet"])


@pytest.fixture
def gfs_file(data_dir) -> str:
    return str(data_dir / "gfs" / "gfs.t12z.pgrbf120.2p5deg.grib2")


def test_9_an_impossible_catalog_date_is_a_message(tmp_path, gfs_file, capsys):
    text = (f"store: s.zarr\ncache_dir: cache\nsources: {{g: {{kind: grib_file, paths: [{gfs_file}]}}}}\n"
            "splits: {train: {start: 2019-02-30}}\n")
    (tmp_path / "c.yaml").write_text(text)
    before = tree_hash(tmp_path)
    assert cli(["ingest", "--catalog", str(tmp_path / "c.yaml"), "--quiet"]) == EXIT_INPUT
    assert "c.yaml: splits.train.start: expected Input should be a valid date" in capsys.readouterr().err
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("store", ["file", "/dev/null"])
def test_9_a_store_that_is_a_file_is_refused_leaving_no_lock_or_staging(tmp_path, gfs_file, capsys, store):
    (tmp_path / "data.txt").write_text("the user's")
    path = str(tmp_path / "data.txt") if store == "file" else store
    dev = {p.name for p in Path("/dev").iterdir()}
    before = tree_hash(tmp_path)
    assert _ingest(tmp_path, {"store": path, "cache_dir": "cache",
                              "sources": {"g": {"kind": "grib_file", "paths": [gfs_file]}}}) == EXIT_INPUT
    assert f"{path}: store: expected a tm-weather zarr store folder" in capsys.readouterr().err
    (tmp_path / "c.yaml").unlink()
    assert tree_hash(tmp_path) == before and {p.name for p in Path("/dev").iterdir()} == dev


@pytest.mark.parametrize("kind", ["grib_file", "isd", "era5_file"])
def test_9_a_device_as_input_is_refused_at_once(tmp_path, capsys, kind):
    assert _ingest(tmp_path, {"store": "s.zarr", "cache_dir": "cache",
                              "sources": {"x": {"kind": kind, "paths": ["/dev/zero"]}}}) == EXIT_INPUT
    assert "/dev/zero: file: expected" in capsys.readouterr().err and not (tmp_path / "s.zarr").exists()


# ------------------------------------------------------------------------------------------- 10: verify


def test_10_an_all_nan_prediction_is_refused(tmp_path, verify_catalog, capsys):
    pred = prediction(tmp_path / "p.nc", values=np.nan)
    before = tree_hash(tmp_path)
    assert cli(verify_args(verify_catalog, pred, tmp_path / "report")) == EXIT_INPUT
    assert f"{pred}: t2m: expected a field with finite values, found NaN everywhere" in capsys.readouterr().err
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("case", ["block 0", "out a file", "out unwritable"])
def test_10_verify_arguments(tmp_path, verify_catalog, capsys, case):
    pred = prediction(tmp_path / "p.nc")
    (tmp_path / "a file").write_text("mine")
    out = {"out a file": tmp_path / "a file", "out unwritable": Path("/sys/kernel/tm-weather-report")}.get(
        case, tmp_path / "report")
    extra = ["--block", "0"] if case == "block 0" else []
    before = tree_hash(tmp_path)
    assert cli(verify_args(verify_catalog, pred, out, *extra)) == EXIT_INPUT
    assert ("--block" if case == "block 0" else f"--out: {out}: expected") in capsys.readouterr().err
    assert tree_hash(tmp_path) == before and not Path("/sys/kernel/tm-weather-report").exists()


# -------------------------------------------------------------------------------------------- 11: daily


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory)


def test_11_an_unwritable_cache_is_a_message_before_anything_runs(world, tmp_path, capsys):
    catalog = small_catalog(world, tmp_path / "c", sources=("gfs",), cycles=[0], fxx=[0])
    catalog.write_text(catalog.read_text().replace(str(world / "cache"), "/sys/kernel/tm-weather-cache"))
    before = tree_hash(tmp_path)
    assert cli(["daily", "--catalog", str(catalog), "--date", "2023-02-11", "--checkpoint", str(NO_MODEL)]) == EXIT_INPUT
    assert f"{catalog}: cache_dir: /sys/kernel/tm-weather-cache: expected a writable location" in capsys.readouterr().err
    assert tree_hash(tmp_path) == before


def test_9_11_daily_refuses_a_store_that_is_a_device_before_anything_runs(world, tmp_path, capsys):
    catalog = small_catalog(world, tmp_path / "c", sources=("truth_tile02",))
    catalog.write_text(catalog.read_text().replace(str(tmp_path / "c" / "store.zarr"), "/dev/null"))
    dev = {p.name for p in Path("/dev").iterdir()}
    before = tree_hash(tmp_path)
    assert cli(["daily", "--catalog", str(catalog), "--date", "2023-02-11", "--checkpoint", str(NO_MODEL)]) == EXIT_INPUT
    assert "/dev/null: store: expected a tm-weather zarr store folder" in capsys.readouterr().err
    assert tree_hash(tmp_path) == before and {p.name for p in Path("/dev").iterdir()} == dev


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31"])
def test_11_a_date_outside_the_range_is_a_message(world, tmp_path, capsys, date):
    catalog = small_catalog(world, tmp_path / "c", sources=("truth_tile02",))
    before = tree_hash(tmp_path)
    assert cli(["daily", "--catalog", str(catalog), "--date", date, "--checkpoint", str(NO_MODEL)]) == EXIT_INPUT
    assert "--date: value: expected a time on the UTC days" in capsys.readouterr().err
    assert tree_hash(tmp_path) == before


def test_11_a_run_stopped_by_an_error_still_ends_its_log(world, tmp_path, monkeypatch):
    def herbie_fails(*args):
        raise RuntimeError("Herbie: cannot write the cache")

    monkeypatch.setattr("tm_weather.jobs.daily.fetch_day", herbie_fails)
    catalog = small_catalog(world, tmp_path, sources=("truth_tile02",))
    with pytest.raises(RuntimeError):
        main(["daily", "--catalog", str(catalog), "--date", "2023-02-11", "--checkpoint", str(NO_MODEL)])
    import datetime as dt

    events = read_log(tmp_path / "daily" / "log", dt.date(2023, 2, 11))
    assert [e["event"] for e in events] == ["start", "end"]
    assert events[1]["status"] == "failed" and events[1]["exit"] == 1 and "cannot write the cache" in events[1]["error"]


# -------------------------------------------------------------------------------------------- 12: smaller


def test_12_strict_numbers_and_no_key_twice(tmp_path, gfs_file, capsys):
    base = f"cache_dir: cache\nsources: {{g: {{kind: grib_file, paths: [{gfs_file}]}}}}\n"
    for text, message in [
        ("store: s.zarr\n" + base + "sites: [{name: a, lat: true, lon: 8.0}]\n", "sites[0].lat: expected Input should be a valid number, found True"),
        ("store: a.zarr\nstore: b.zarr\n" + base, "key 'store' given twice in one mapping"),
    ]:
        (tmp_path / "c.yaml").write_text(text)
        before = tree_hash(tmp_path)
        assert cli(["ingest", "--catalog", str(tmp_path / "c.yaml"), "--quiet"]) == EXIT_INPUT
        err = capsys.readouterr().err
        assert "c.yaml" in err and message in err
        assert tree_hash(tmp_path) == before


def test_12_an_untagged_tile_names_the_flag_that_gives_its_time(ck, tiles, tmp_path, capsys):
    s2 = tif_copy(tiles / "S2L2A" / TILE, tmp_path / "s2.tif", tagged=False)
    out = tmp_path / "t2m.nc"
    assert cli(generate_args(ck, s2, out)) == EXIT_INPUT
    assert "generate --acquired" in capsys.readouterr().err and not out.exists()
    assert cli(generate_args(ck, s2, out, "--acquired", ACQUIRED + "Z")) == EXIT_OK
    with xr.open_dataset(out) as ds:
        assert ds.attrs["input_s2_acquired"].startswith(ACQUIRED)


def test_12_retry_events_keep_the_run_id(tmp_path):
    log = RunLog(tmp_path, __import__("datetime").date(2023, 2, 11))

    class Down:
        name = "gfs"

        def fetch(self, run, fxx):
            raise InputError("cache/gfs", "message", "reachable", "refused") from requests.ConnectionError("refused")

    job = types.SimpleNamespace(retry=Retry(attempts=3, backoff_s=0.0), sleep=lambda s: None)
    with pytest.raises(Exception, match="3 attempts"):
        _fetch(Down(), np.datetime64("2023-02-11T06:00", "ns"), 0, job, log)
    retries = [e for e in read_log(tmp_path, log.day) if e["event"] == "retry"]
    assert [(e["run"], e["cycle"]) for e in retries] == [(log.run, "2023-02-11T06:00")] * 2
    with pytest.raises(ValueError, match="run"):
        log.write("retry", run="2023-02-11T06:00")
