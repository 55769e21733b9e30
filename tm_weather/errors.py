"""The one exception type for bad input, and the CLI's exit codes.

Every reader validates where data enters and raises `InputError` naming the file, the field and what was
expected; the CLI turns it into a one-line message and `EXIT_INPUT`. Nothing is written after such an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected error (a bug): traceback printed
EXIT_INPUT = 2  # bad input or bad usage: message printed, nothing written
EXIT_PARTIAL = 3  # an unattended run finished but some inputs were missing (recorded in its run log)
EXIT_LOCKED = 75  # another run holds the store's lock (EX_TEMPFAIL: try again later)


@dataclass
class InputError(Exception):
    """Bad input: `where` is the file (or catalog key path), `field` the thing inside it, `expected` what was wanted."""

    where: str | PathLike
    field: str
    expected: str
    found: str = ""

    def __str__(self) -> str:
        found = f", found {self.found}" if self.found else ""
        return f"{self.where}: {self.field}: expected {self.expected}{found}"
