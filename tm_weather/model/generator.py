"""The product's generator: a transformer checkpoint with the tokenizers and the regression network it was trained
with, each found by name and checked by sha256, so no other copy can be picked up silently.

    Generator.load(checkpoint) -> model (`transformer.load_model`), tokenizers (`data.Tokenizers.load`, default
      the shipped `tokenizers/`), regression (`anomaly.load_anomaly`, default the file the checkpoint's metadata
      names, beside the checkpoint) -> `Generator.tile(tile, time, gfs)` -> a CF `xr.Dataset` (`generate_tile`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tm_weather.errors import InputError
from tm_weather.model.anomaly import AnomalyModel, load_anomaly
from tm_weather.model.data import Tokenizers
from tm_weather.model.generate import GenerationConfig, generate_tile
from tm_weather.model.transformer import MultiModalTransformer, load_model
from tm_weather.tokenizers.registry import sha256



@dataclass
class Generator:
    """What generation runs: the transformer, its tokenizers and its regression network, and where they came from."""

    model: MultiModalTransformer
    tokenizers: Tokenizers
    regression: AnomalyModel
    checkpoint: Path
    regression_path: Path

    @classmethod
    def load(cls, checkpoint: Path, tokenizers: Path | None = None, regression: Path | None = None) -> Generator:
        """The checkpoint and what it was trained with; `InputError` when a tokenizer's or the regression's sha256
        differs from the one the checkpoint records, or a file is missing."""
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise InputError(checkpoint, "checkpoint", "a trained transformer (tm-weather train)", "no such file")
        model, meta = load_model(checkpoint)
        loaded = Tokenizers.load(*[tokenizers] if tokenizers else [])
        check_tokenizers(checkpoint, meta, loaded)
        trained = _metadata(checkpoint, meta, "regression")
        if not trained:
            raise InputError(checkpoint, "regression metadata", "the regression checkpoint it was trained with "
                             "(a checkpoint from tm-weather train after the regression split)", "none")
        path = Path(regression) if regression else checkpoint.parent / trained["checkpoint"]
        if not path.is_file():
            raise InputError(path, "regression checkpoint", f"the regression network {checkpoint.name} was trained with", "no such file")
        reg = load_anomaly(path)
        if reg.sha256 != trained["sha256"]:
            raise InputError(path, "sha256", f"{trained['sha256']} (the regression {checkpoint.name} was trained with)", reg.sha256)
        return cls(model, loaded, reg, checkpoint, path)

    def provenance(self) -> dict[str, str]:
        """Attributes naming the checkpoints a generated file came from."""
        return {"checkpoint": str(self.checkpoint), "checkpoint_sha256": sha256(self.checkpoint),
                "regression": str(self.regression_path), "regression_sha256": self.regression.sha256,
                "tokenizers_sha256": " ".join(f"{k}:{v}" for k, v in sorted(self.tokenizers.hashes.items()))}

    def tile(self, tile, time, gfs=None, config: GenerationConfig = GenerationConfig(), tim: bool = False,
             provenance: dict | None = None):
        """T2M on a `tiles.Tile` at UTC `time`, given its `tiles.GFSInput` or not -> CF `xr.Dataset` (`generate_tile`)."""
        return generate_tile(self.model, self.tokenizers, self.regression, tile, time, gfs, config, tim,
                             {**self.provenance(), **(provenance or {})})


def check_tokenizers(checkpoint: Path, meta: dict[str, str], tokenizers: Tokenizers) -> None:
    """`InputError` unless every tokenizer the checkpoint records in its metadata (`tokenizers`: name -> sha256)
    is the one loaded in `tokenizers`, by sha256."""
    for name, digest in _metadata(checkpoint, meta, "tokenizers").items():
        if tokenizers.hashes.get(name) != digest:
            raise InputError(f"tokenizer {name}", "sha256", f"{digest} (the tokenizer {checkpoint.name} was trained with)",
                             str(tokenizers.hashes.get(name)))


def _metadata(checkpoint: Path, meta: dict[str, str], key: str) -> dict[str, str]:
    """The checkpoint's `key` metadata (YAML mapping of strings), checked."""
    try:
        value = yaml.safe_load(meta.get(key, "{}")) or {}
    except yaml.YAMLError as e:
        raise InputError(checkpoint, f"{key} metadata", "a YAML mapping of strings", str(e)[:120]) from e
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InputError(checkpoint, f"{key} metadata", "a YAML mapping of strings", repr(value)[:120])
    return value
