"""Safetensors files that are the same bytes for the same tensors and metadata, written atomically; and the one
reader of them, which turns a file safetensors cannot read into an `InputError`.

Why by hand: safetensors (0.8.0) writes the `__metadata__` entries in a random per-process order
(safetensors/safetensors#584, open), so saving the same weights twice gives different files and different
sha256s, while the cards and `generate` identify checkpoints by sha256. The header is re-serialised with sorted
keys; a safetensors header is JSON padded with spaces to its stored length, so the fix keeps every offset.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save

from tm_weather.errors import InputError
from tm_weather.outputs import write_bytes


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """Write `tensors` with `metadata` (strings) to `path`: header keys sorted, through `tm_weather.outputs`
    (a temporary file renamed into place), so an interrupted save never leaves a truncated checkpoint."""
    data = bytearray(save(tensors, metadata=metadata))
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    data[8 : 8 + size] = canonical.ljust(size, b" ")  # same length: the same entries, reordered
    write_bytes(Path(path), bytes(data))


def read_safetensors(path: str | Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """`path` -> (tensors as float32, metadata); `InputError` naming the file when it is not a safetensors
    file (`what` says which checkpoint was expected, e.g. "a safetensors transformer checkpoint")."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k).to(torch.float32) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for bad files
        raise InputError(path, "file", what, str(e)[:120]) from e
    return tensors, meta
