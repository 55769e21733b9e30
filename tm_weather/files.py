"""Input files: what every file reader checks before handing a path to a library that would read it whole.

A path that is not a regular file (a folder, `/dev/zero`, a FIFO) is refused at once: ecCodes scans
`/dev/zero` for a GRIB message forever and a text parser would read it until memory runs out. The format is
told from the first bytes (`MAGIC`), a bounded read.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from tm_weather.errors import InputError

#: First bytes of each format: GRIB (editions 1 and 2), netCDF classic / 64-bit offset, and netCDF-4 (HDF5).
MAGIC = {"GRIB": (b"GRIB",), "netCDF": (b"CDF\x01", b"CDF\x02", b"\x89HDF")}


def regular_file(path: str | PathLike, expected: str) -> Path:
    """`path` as a Path if it is a readable regular file, else `InputError` naming it (`expected`: what it should be)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file", expected, "no such file")
    if not path.is_file():
        raise InputError(path, "file", expected, "a folder" if path.is_dir() else "not a regular file (a device or pipe)")
    return path


def file_format(path: str | PathLike, formats: tuple[str, ...]) -> str:
    """Which of `formats` (keys of `MAGIC`) the regular file `path` is, from its first 4 bytes; else `InputError`."""
    wanted = " or ".join(f"{name} (starts {' or '.join(map(repr, MAGIC[name]))})" for name in formats)
    path = regular_file(path, f"a {wanted} file")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise InputError(path, "file", f"a readable {wanted} file", e.strerror or str(e)) from e
    for name in formats:
        if head in MAGIC[name]:
            return name
    raise InputError(path, "file format", wanted, repr(head))
