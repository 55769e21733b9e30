"""The benchmark world (tm_weather.world) written whole or not at all: built in a temporary folder next to its
destination and renamed into place only when complete, so a failed or killed build never leaves a folder that
looks like a whole world. `tm-weather world` and the demo call `write_world`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tm_weather.climatology import PACKAGED, Climatology
from tm_weather.errors import InputError
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS
from tm_weather.world.report import Scores


def write_world(out: Path, preset: str, seed: int, climatology: Path = PACKAGED) -> Scores:
    """Write the world of `preset` (a name of `PRESETS`) and `seed` into the folder `out`, replacing an earlier
    world there, with the ERA5 monthly climatology file `climatology`; return its test-split scores.
    `InputError` on bad input, before anything is written."""
    if preset not in PRESETS:
        raise InputError("--preset", "preset", f"one of {', '.join(PRESETS)}", repr(preset))
    clim = Climatology.load(climatology)
    if out.exists() and not ((out / CATALOG).is_file() or (out.is_dir() and not any(out.iterdir()))):
        raise InputError(out, "folder", "a new folder, an empty one or an earlier world (it is replaced)", "other files")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise InputError(out.parent, "folder", "a writable folder", e.strerror or str(e)) from e
    try:
        scores = build_world(tmp, PRESETS[preset], seed, clim)
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return scores
