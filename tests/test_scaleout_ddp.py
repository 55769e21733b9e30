"""Scale-out of training on Lightning DDP: two CPU processes (gloo) train the shared transformer a few steps, and
the checkpoint rank 0 ships loads. The job runs through `ddp_small_validation` (`python -m tm_weather.jobs.ddp` with
the training tests' small validation, `model_support.small_validation`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from daily_support import tiny_world
from model_support import small_regression
from tm_weather.model.transformer import load_model
from tm_weather.tokenizers.registry import sha256
from tm_weather.world.build import CATALOG


@pytest.mark.slow
def test_two_process_cpu_ddp_trains_and_its_checkpoint_loads(tmp_path_factory, tmp_path):
    world = tiny_world(tmp_path_factory)
    out, run_dir = tmp_path / "checkpoints", tmp_path / "run"
    out.mkdir()
    regression = out / "anomaly-demo.safetensors"  # where `train` looks for it by default
    small_regression().save(regression)
    tests = Path(__file__).parent  # on the path of both ranks' processes (Lightning starts rank 1 with the same command)
    path = [str(tests), str(tests.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(
        [sys.executable, "-m", "ddp_small_validation", "--catalog", str(world / CATALOG), "--out", str(out),
         "--run-dir", str(run_dir), "--steps", "3", "--devices", "2"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0 of 2 (gloo): 3 steps" in done.stdout and "rank 1 of 2 (gloo): 3 steps" in done.stdout

    path = out / "transformer-demo.safetensors"
    card = yaml.safe_load(path.with_suffix(".yaml").read_text())
    model, meta = load_model(path)
    assert card["sha256"] == sha256(path) and model.num_parameters() == card["parameters"]
    assert meta["preset"] == "demo" and card["train"]["steps"] == 3
    trained_with = {"checkpoint": regression.name, "sha256": sha256(regression)}
    assert yaml.safe_load(meta["regression"]) == trained_with == card["regression"]
    state = torch.load(run_dir / "last.ckpt", weights_only=True)
    assert state["global_step"] == 3
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    # the shipped weights are the trained ones (stored as float16)
    assert all(torch.equal(v, weights[k].half().float()) for k, v in model.state_dict().items())
