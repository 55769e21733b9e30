"""The one way tm-weather writes a result file (netCDF, GeoTIFF, report, metrics, checkpoints, run products).

`check_output` is called before any work: the path must be a file path (or, for a folder of outputs, a folder)
in a folder the process can create files in, not below a regular file, not a device. `atomic_file` then gives
a temporary name in the same folder; the bytes are written there, fsync'ed, and renamed over the final name
(`os.replace`, atomic on one file system) only when complete. On any error the temporary file is removed, so a
full disk or a kill never leaves a truncated file under the final name. An `OSError` while writing (no space,
no permission) becomes `InputError` naming the file.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tm_weather.errors import InputError


def check_output(path: Path, where: str, folder: bool = False) -> None:
    """Raise `InputError` (`where`: the argument, e.g. "--out") unless `path` can be written: a new or regular file
    (`folder=False`) or a new or existing folder (`folder=True`), whose nearest existing folder accepts new files."""
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise InputError(where, str(path), "a folder for the outputs, or a new path", "an existing file")
        if not folder and path.is_dir():
            raise InputError(where, str(path), "a file path", "a folder")
        if not folder and not path.is_file():
            raise InputError(where, str(path), "a file path", "a device or other special file")
    above = path if folder and path.is_dir() else path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise InputError(where, str(path), "a path whose folders are folders", f"{above} is a file")
    try:  # os.access is no guide for root or on a read-only mount: try to create a file
        fd, probe = tempfile.mkstemp(dir=above, prefix=".tm-weather-probe-")
    except OSError as e:
        raise InputError(where, str(path), f"a writable location ({above})", e.strerror or str(e)) from e
    os.close(fd)
    os.unlink(probe)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so writers that go by it pick the same format); when the
    block ends normally its bytes are fsync'ed and it is renamed to `path`; on any error it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(path, "write", "room and permission to write the file", e.strerror or str(e)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """`data` to `path` through `atomic_file`."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """`text` (UTF-8) to `path` through `atomic_file`."""
    write_bytes(path, text.encode())
