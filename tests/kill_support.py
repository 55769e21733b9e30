"""Runs for the SIGKILL tests (store, ingest, daily job) that skip Python's start-up: each run is a process of its
own, forked from one interpreter that has imported the job's modules once (multiprocessing's forkserver: a fresh
interpreter started for it, not a fork of pytest), and is killed with SIGKILL as before.

Started as a new interpreter, a run spends seconds importing (xarray, zarr, torch, ...) before it writes
anything, and more once it has started (the modules a job imports lazily); a forked run starts writing at once. So
the kill points fall in the writing, and a test pays for each run's work only. `Run` answers as much of
`subprocess.Popen` as the tests use."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Callable

#: What the forkserver imports before it forks the first run: everything the runs of the killed jobs import
#: (the CLI with every command, the sources, the tokenizers and verification the daily job imports lazily).
PRELOAD = ["tm_weather", "tm_weather.cli", "tm_weather.commands.daily", "tm_weather.commands.ingest",
           "tm_weather.jobs.daily", "tm_weather.ingest", "tm_weather.store", "tm_weather.sources.era5",
           "tm_weather.sources.gfs", "tm_weather.sources.herbie_fetch", "tm_weather.sources.field_file",
           "tm_weather.tokenizers.series", "tm_weather.tokenizers.registry", "tm_weather.verify.run",
           "tm_weather.tiles", "torch", "test_store"]


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the forkserver starts (at the session's first run)
    return context


def _main(target: Callable[..., int | None], args: tuple) -> None:
    """In the forked run: output to /dev/null (as `stdout=DEVNULL, stderr=DEVNULL`), exit with the target's status."""
    from multiprocessing import resource_tracker

    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    # A run of its own resource tracker, as a new interpreter has: the semaphores a killed run leaves are its
    # tracker's to clean up (and to warn about, to /dev/null), not pytest's at the end of the session.
    resource_tracker._resource_tracker._fd = resource_tracker._resource_tracker._pid = None
    sys.exit(target(*args))


def cli(argv: list[str]) -> int:
    """`tm-weather ARGV` (`tm_weather.cli.main`), what `python -m tm_weather.cli ARGV` runs."""
    from tm_weather.cli import main

    return main(argv)


def _nothing() -> int:
    return 0


def start_forkserver() -> None:
    """Start the forkserver (its imports take seconds, once per session) with a run that does nothing, so that a
    run timed next is timed for its own work."""
    assert Run(_nothing).wait() == 0


class Run:
    """`target(*args)` in a forked process; `returncode` is -9 after a SIGKILL, as with `subprocess.Popen`."""

    def __init__(self, target: Callable[..., int | None], *args):
        self._process = _context().Process(target=_main, args=(target, args))
        self._process.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(f"forked {self._process.name}", timeout)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if sig != signal.SIGKILL:
            raise ValueError("a forked run is only ever killed")
        self._process.kill()  # SIGKILL, unless the run has ended (and its pid may be another process's)

    def kill(self) -> None:
        self._process.kill()
