"""Property-based (hypothesis): `tm-weather generate`, `verify` and `ingest` driven through the command line
(`tm_weather.cli.main`) with generated argument values and generated files. Whatever they are given, the
commands end with a status the README promises (0, 2, 3 or 75), never a traceback, and a command that does not
succeed changes no file (the folder is hashed before and after); no temporary file is ever left behind.

Most generated cases fail validation early (that is what is under test); the `@example`s and the valid draws
run the whole command on the small random checkpoint and the real fixtures."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import pytest
import xarray as xr
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import DATA
from model_support import one_thread, write_small_checkpoint  # noqa: F401  (fixture)
from test_store import tree_hash
from test_hostile import cli
from tm_weather.errors import EXIT_INPUT, EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL
from tm_weather.model import MAX_MEMBERS

PROMISED = {EXIT_OK, EXIT_INPUT, EXIT_PARTIAL, EXIT_LOCKED}
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
TILES = DATA / "sentinel2" / "terramind-examples"
GFS_FILE = DATA / "gfs" / "gfs.t12z.pgrbf120.2p5deg.grib2"
ISD_FILE = DATA / "isd" / "726430-14920-2015"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Files a user might pass: the small checkpoint and its tokenizers (`ck/`), garbage, an empty file."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "ck").mkdir()
    write_small_checkpoint(folder / "ck")
    (folder / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "empty").write_bytes(b"")
    return folder


def run_in_scratch(inputs: Path, argv_of) -> None:
    """Run the command `argv_of(scratch)` in a fresh scratch folder (holding a regular file `blocker` and a folder
    `dir.nc`); check the exit status, that a failure changed nothing and that no temporary file is left."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        (scratch / "blocker").write_text("a user's file")
        (scratch / "dir.nc").mkdir()
        argv = argv_of(scratch)
        before = tree_hash(scratch)
        code = cli(argv)
        assert code in PROMISED, (argv, code)
        if code != EXIT_OK:
            assert tree_hash(scratch) == before, argv
        left = [p for p in scratch.rglob("*") if ".partial" in p.name or p.name.startswith(".tm-weather-probe")]
        assert not left, left


def _mostly(good, *others, text: bool = False):
    """`good` half the time, else any of `others` (or, with `text`, short random text): most draws get past one
    check to the next."""
    bad = st.sampled_from(others)
    return st.one_of(st.just(good), st.one_of(bad, st.text(max_size=12)) if text else bad)


# --------------------------------------------------------------------------------------------- generate

S2_CHOICES = {"tile": TILES / "S2L2A" / "38D_378R_2_3.tif", "dem as s2": TILES / "DEM" / "38D_378R_2_3.tif",
              "garbage": "garbage.bin", "empty": "empty", "device": Path("/dev/zero"), "missing": "nope.tif",
              "generated": None}
#: First bytes of the formats the readers tell apart, to start generated files with.
MAGICS = [b"", b"II*\x00", b"MM\x00*", b"GRIB", b"CDF\x01", b"\x89HDF\r\n\x1a\n"]


def generated_file(folder: Path, name: str, content: bytes) -> Path:
    (folder / name).write_bytes(content)
    return folder / name

OUTS = ("o.nc", "o.tif", "sub/o.nc", "o.txt", "dir.nc", "blocker/o.nc", "/sys/kernel/tm-weather/o.nc", "")


@FEW
@given(s2=_mostly("tile", *S2_CHOICES),
       time=_mostly("2023-06-10T12:00", "2023-06-10T12:00+02:00", "9999-12-31", "", "noon", text=True),
       members=_mostly(2, -1, 0, 1, MAX_MEMBERS + 1).map(str), steps=_mostly("1", "-1", "0", "2", "x"),
       seed=_mostly(0, -1, 2**63 - 1, 2**63, 2**64).map(str),
       checkpoint=_mostly("ck/t.safetensors", "ck/s2l2a.safetensors", "garbage.bin", "missing"),
       out=_mostly("o.nc", *OUTS), dem=st.sampled_from([None, "dem", "garbage.bin", "tile"]),
       content=st.tuples(st.sampled_from(MAGICS), st.binary(max_size=300)).map(b"".join))
@example(s2="tile", time="2023-06-10T12:00", members="2", steps="1", seed="0", checkpoint="ck/t.safetensors",
         out="o.nc", dem="dem", content=b"")
@example(s2="tile", time="2023-06-10T12:00Z", members="1", steps="2", seed=str(2**63 - 1),
         checkpoint="ck/t.safetensors", out="sub/o.tif", dem=None, content=b"")
def test_generate_never_tracebacks(inputs, s2, time, members, steps, seed, checkpoint, out, dem, content):
    def argv(scratch: Path) -> list[str]:
        s2_path = generated_file(scratch, "gen.tif", content) if s2 == "generated" else inputs / S2_CHOICES[s2]
        dems = {"dem": TILES / "DEM" / "38D_378R_2_3.tif", "tile": S2_CHOICES["tile"], "garbage.bin": inputs / "garbage.bin"}
        return (["generate", "--s2", str(s2_path), "--time", time, "--members", members, "--steps", str(steps),
                 "--seed", seed, "--boa-add-offset", "0", "--checkpoint", str(inputs / checkpoint),
                 "--tokenizers", str(inputs / "ck"), "--out", str(scratch / out)]
                + (["--dem", str(dems[dem])] if dem else []))

    run_in_scratch(inputs, argv)


# ----------------------------------------------------------------------------------------------- verify


@st.composite
def predictions(draw) -> dict:
    """A prediction file's content: t2m values (with NaN, inf, out-of-range), units, dims, an init_time attribute."""
    value = draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(200, 320)))
    return dict(value=value, units=draw(st.sampled_from(["K", "degC", None])),
                init=draw(_mostly(None, "2023-02-11T00:00Z", "2023-02-12T00:00", "9999-01-01", text=True)),
                dims=draw(st.sampled_from([("member", "y", "x"), ("y", "x"), ("x", "member", "y")])),
                crs=draw(st.booleans()))


def write_prediction(path: Path, p: dict) -> Path:
    shape = {"member": 2, "y": 4, "x": 4}
    coords = {"y": 5e6 - 10 * np.arange(4.0), "x": 5e5 + 10 * np.arange(4.0), "time": np.datetime64("2023-02-11T12:00", "ns")}
    t2m = xr.DataArray(np.full([shape[d] for d in p["dims"]], p["value"], np.float32), dims=p["dims"],
                       coords={k: v for k, v in coords.items() if k in p["dims"] or k == "time"},
                       attrs={"units": p["units"]} if p["units"] else {})
    ds = t2m.to_dataset(name="t2m").assign_attrs(tile="tile00", **({"init_time": p["init"]} if p["init"] is not None else {}))
    (ds.rio.write_crs("EPSG:32632") if p["crs"] else ds).to_netcdf(path)
    return path


_TILE = [{"name": "tile00", "s2": str(S2_CHOICES["tile"]), "boa_add_offset": 0}]
CATALOGS = {
    "minimal": {"store": "s.zarr", "cache_dir": "cache", "sources": {"truth": {"kind": "isd", "paths": [str(ISD_FILE)]}},
                "tiles": _TILE},
    "no truth": {"store": "s.zarr", "cache_dir": "cache", "sources": {"g": {"kind": "grib_file", "paths": [str(GFS_FILE)]}},
                 "tiles": _TILE},
}


@FEW
@given(pred=st.one_of(predictions(), st.sampled_from(["garbage.bin", "empty", "/dev/zero", "missing.nc"])),
       truth=_mostly("truth", "store:truth", "truth_{tile}", "g", text=True), block=_mostly(16, -1, 0, 1).map(str),
       out=_mostly("report", "blocker", "dir.nc", "blocker/report", "/sys/kernel/tm-weather-report"),
       catalog=_mostly("minimal", "no truth", "garbage.bin", "/dev/zero", "missing.yaml"))
@example(pred=dict(value=280.0, units="K", init=None, dims=("member", "y", "x"), crs=True), truth="truth",
         block="16", out="report", catalog="minimal")
@example(pred=dict(value=280.0, units="K", init="2023-02-11T00:00Z", dims=("member", "y", "x"), crs=True), truth="g",
         block="1", out="report", catalog="no truth")
@example(pred=dict(value=280.0, units="K", init=None, dims=("member", "y", "x"), crs=True), truth="store:truth",
         block="16", out="report", catalog="minimal")
def test_verify_never_tracebacks(inputs, pred, truth, block, out, catalog):
    def argv(scratch: Path) -> list[str]:
        pred_path = write_prediction(scratch / "p.nc", pred) if isinstance(pred, dict) else inputs / pred
        catalog_path = inputs / catalog
        if catalog in CATALOGS:
            catalog_path = scratch / "catalog.yaml"
            catalog_path.write_text(yaml.safe_dump(CATALOGS[catalog]))
        return ["verify", "--pred", str(pred_path), "--truth", truth, "--block", block, "--catalog", str(catalog_path),
                "--out", str(scratch / out)]

    run_in_scratch(inputs, argv)


# ----------------------------------------------------------------------------------------------- ingest

SOURCES = {"grib": {"kind": "grib_file", "paths": [str(GFS_FILE)]}, "isd": {"kind": "isd", "paths": [str(ISD_FILE)]},
           "zero": {"kind": "grib_file", "paths": ["/dev/zero"]}, "folder": {"kind": "era5_file", "paths": [str(DATA)]},
           "garbage": {"kind": "isd", "paths": ["../../garbage.bin"]}, "remote": {"kind": "gfs", "cycles": [0]}}


@FEW
@given(name=_mostly("gfs", "truth_a", "gfs/2011", ".", "../escape", "", text=True), source=_mostly("generated", *SOURCES),
       content=st.tuples(st.sampled_from(MAGICS), st.binary(max_size=300)).map(b"".join),
       kind=st.sampled_from(["grib_file", "era5_file", "isd"]),
       store=_mostly("s.zarr", "blocker", "dir.nc", "/dev/null", "blocker/s.zarr", "."),
       start=st.one_of(_mostly(None, "2011-01-15", "0001-01-01", "9999-12-31", text=True), st.dates().map(str)),
       lat=st.one_of(_mostly(43.9, True, "x", 91.0), st.floats(allow_nan=True)),
       extra=_mostly("", "store: other.zarr\n", "splits: {train: {start: 2019-02-30}}\n", "x: [\n"))
@example(name="gfs", source="grib", content=b"", kind="grib_file", store="s.zarr", start=None, lat=40.0, extra="")
@example(name="isd", source="isd", content=b"", kind="isd", store="s.zarr", start="2015-01-01", lat=43.9, extra="")
def test_ingest_never_tracebacks(inputs, name, source, content, kind, store, start, lat, extra):
    def argv(scratch: Path) -> list[str]:
        config = SOURCES.get(source) or {"kind": kind, "paths": [str(generated_file(scratch, "data.bin", content))]}
        doc = {"store": store, "cache_dir": "cache", "sources": {name: config},
               "sites": [{"name": "a", "lat": lat, "lon": -91.2}]}
        (scratch / "c.yaml").write_text(yaml.safe_dump(doc) + extra)
        window = ["--start", start, "--end", start] if start is not None else []
        return ["ingest", "--catalog", str(scratch / "c.yaml"), "--quiet", *window]

    run_in_scratch(inputs, argv)
    shutil.rmtree(inputs / "cache", ignore_errors=True)
