"""The `tm-weather` command. Each subcommand lives in its own module, which provides `add_parser(subparsers)`
registering its arguments and a `func(args) -> int` default; this module only wires them and maps errors to
exit codes (see `tm_weather.errors`)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import EXIT_INPUT, InputError

#: Modules providing subcommands, in the order `--help` lists them.
COMMANDS = (
    "tm_weather.commands.demo",
    "tm_weather.commands.train",
    "tm_weather.commands.generate",
    "tm_weather.commands.daily",
    "tm_weather.commands.ingest",
    "tm_weather.commands.index",
    "tm_weather.commands.tokenizers",
    "tm_weather.commands.verify",
    "tm_weather.commands.world",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tm-weather",
        description="Weather (GFS, ERA5, NOAA truth) for TerraMind-style multimodal Earth-observation models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log conversions and progress details")
    parser.add_argument("--version", action="version", version=f"%(prog)s {tm_weather.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except InputError as e:
        print(f"tm-weather {args.command}: error: {e}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
