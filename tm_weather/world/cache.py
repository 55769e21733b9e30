"""The benchmark world built once per user and reused: `cached_world(preset, seed)`.

Training, the tokenizers' data and the daily job's embedded default all read a world from the user's cache
folder (`$XDG_CACHE_HOME/tm-weather`, else `~/.cache/tm-weather`). The folder's name carries a digest of the
generator's own source files, so a changed generator builds a new world instead of serving a stale one. A world
is built in a temporary folder and renamed into place, so a killed build never leaves a world that looks whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from tm_weather import climatology
from tm_weather.world.build import CATALOG, build_world
from tm_weather.world.presets import PRESETS

log = logging.getLogger(__name__)


def generator_digest() -> str:
    """12 hex digits of sha256 over the world package's source files and the climatology it reads (name and
    bytes, sorted)."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")) + [Path(climatology.__file__), climatology.PACKAGED]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def world_folder(preset: str, seed: int = 0) -> Path:
    """Where the world of `preset` and `seed` from this generator and the packaged climatology lives in the
    user's cache (whether built or not)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tm-weather"
    return root / f"world-{preset}-{seed}-{generator_digest()}"


def cached_world(preset: str, seed: int = 0) -> Path:
    """The folder of the benchmark world of `preset` and `seed` (its catalog is `<folder>/catalog.yaml`), built
    there first if it is not yet."""
    target = world_folder(preset, seed)
    root = target.parent
    if (target / CATALOG).exists():
        return target
    log.warning("building the %s benchmark world (seed %d) in %s", preset, seed, target)
    tmp = root / f".{target.name}.{uuid.uuid4().hex}"
    build_world(tmp, PRESETS[preset], seed)
    try:
        os.rename(tmp, target)
    except OSError:  # another process finished the same world first: same bytes, keep theirs
        shutil.rmtree(tmp)
    return target
