"""`save_safetensors`: the same tensors and metadata give the same bytes in any process (safetensors itself
orders the metadata at random per process), and the file reads back with safetensors."""

from __future__ import annotations

import subprocess
import sys

import torch
from safetensors import safe_open

SAVE = """
import sys, torch
from tm_weather.checkpoint_io import save_safetensors
tensors = {"b": torch.arange(6, dtype=torch.float16).reshape(2, 3), "a": torch.ones(4)}
save_safetensors(tensors, sys.argv[1], {k: k * 3 for k in "zyxwvutsrq"})
"""


def test_same_bytes_in_every_process_and_readable(tmp_path):
    paths = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for p in paths:
        subprocess.run([sys.executable, "-c", SAVE, str(p)], check=True)
    assert len({p.read_bytes() for p in paths}) == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    with safe_open(str(paths[0]), "pt") as f:
        assert f.metadata() == {k: k * 3 for k in "zyxwvutsrq"}
        torch.testing.assert_close(f.get_tensor("b"), torch.arange(6, dtype=torch.float16).reshape(2, 3))
        torch.testing.assert_close(f.get_tensor("a"), torch.ones(4))
