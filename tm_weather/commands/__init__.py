"""CLI subcommands, one module each (see `tm_weather.cli`), and the argument types they share."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded_int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse `type`: an integer in `lo`..`hi` (no upper bound when `hi` is None); anything else is a usage
    error (exit status 2) that says the range."""
    wanted = f"an integer from {lo}" + (f" to {hi}" if hi is not None else "")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, found {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {wanted}, found {value}")
        return value

    return parse
