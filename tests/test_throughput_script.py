"""`benchmarks/throughput.py`, the prepared GPU script for `base`, runs end to end (here: `tiny` on the CPU,
under bfloat16 autocast as on a GPU), so it has not rotted when a session with a GPU needs it. No timing is
checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def run(args: list[str]) -> subprocess.CompletedProcess:
    """The script with `args`, checked to exit 0."""
    # this checkout's tm_weather first: a script's own folder leads sys.path, so it would import the installed one,
    # which (in a git worktree sharing another checkout's editable install) is another checkout's
    path = [str(SCRIPT.parents[1])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_throughput_script_runs_and_reports(tmp_path):
    args = ["--size", "tiny", "--device", "cpu", "--batch", "2", "--steps", "1", "--warmup", "0", "--repeat", "1",
            "--members", "2", "--bf16", "--out", str(tmp_path)]
    run(args)
    result = json.loads((tmp_path / "throughput-tiny-cpu.json").read_text())
    assert result["bf16"] is True and result["members"] == 2 and result["parameters"] > 0
    assert result["train_samples_per_s"] > 0 and result["generation_latency_s"] > 0


def test_throughput_script_without_latency_needs_no_tile(tmp_path):
    """`--no-latency` (for a GPU machine with only torch, numpy and pyproj) measures training alone."""
    args = ["--size", "tiny", "--device", "cpu", "--batch", "2", "--steps", "1", "--warmup", "0", "--no-latency",
            "--out", str(tmp_path)]
    proc = run(args)
    assert "generation not measured" in proc.stdout
    result = json.loads((tmp_path / "throughput-tiny-cpu.json").read_text())
    assert result["train_samples_per_s"] > 0 and result["generation_latency_s"] is None
