"""Shared helpers of the model and generation tests: untrained tokenizers (tokens need a tokenizer, not a good one),
a small random `Batch`, a small untrained regression network, and a small checkpoint on disk (the transformer, its
tokenizers and its regression beside it, with their sha256s in its metadata) for `Generator.load` and
`tm-weather generate`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from tm_weather.model.anomaly import AnomalyConfig, AnomalyModel, AnomalyNet, ResidualNoise
from tm_weather.model.data import TOKENIZER_OF, Tokenizers
from tm_weather.model.masking import Batch
from tm_weather.model.transformer import MODALITIES, ModelConfig, MultiModalTransformer, save_model
from tm_weather.tokenizers.registry import get_modality, save_tokenizer, sha256

SMALL = ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1)
#: A small regression network (`model.anomaly`): a few thousand parameters, fast on one CPU thread.
SMALL_REGRESSION = AnomalyConfig(width=8, basis=4, context=4, hidden=16)
#: The name of the small regression checkpoint `write_small_checkpoint` writes beside the transformer.
REGRESSION_NAME = "regression.safetensors"


def small_validation(preset):
    """A `train.TrainPreset` validating on 4 val samples (`val_samples`) for the training tests: they check that
    validation runs and what it hands on (the metrics in the card), not its values, and the tiny world's whole val
    split (24 samples) costs several times the training steps."""
    return replace(preset, val_samples=4)


@pytest.fixture
def quick_validation(monkeypatch):
    """`tm-weather train --preset demo` (in this process) with `small_validation`."""
    import tm_weather.train

    monkeypatch.setitem(tm_weather.train.PRESETS, "demo", small_validation(tm_weather.train.PRESETS["demo"]))


def untrained_tokenizers(seed: int = 0) -> Tokenizers:
    """Every tokenizer the model needs, at its demo size, randomly initialised (seeded)."""
    torch.manual_seed(seed)
    models = {}
    for name in sorted(set(TOKENIZER_OF.values())):
        modality = get_modality(name)
        models[name] = modality.build(modality.presets["demo"].model).eval()
    return Tokenizers(models, {name: "untrained" for name in models})


def small_regression(seed: int = 0, sd_k: float = 0.3, length_m: float = 80.0, level_sd_k: float = 0.5) -> AnomalyModel:
    """A random `SMALL_REGRESSION` network (seeded) whose error model says `level_sd_k` K for the tile level and
    `sd_k` K for a cell at every hour, with a residual noise of `length_m` m."""
    torch.manual_seed(seed)
    return AnomalyModel(constant_error(AnomalyNet(SMALL_REGRESSION), level_sd_k, sd_k).eval(), ResidualNoise(length_m))


def constant_error(net: AnomalyNet, level_sd_k: float, cell_sd_k: float) -> AnomalyNet:
    """`net` with an error model that says `level_sd_k` and `cell_sd_k` K whatever its inputs."""
    with torch.no_grad():
        net.error[-1].weight.zero_()
        net.error[-1].bias.zero_()
        net.error_centre.copy_(torch.tensor([level_sd_k, cell_sd_k]).log().expand(2, 2))
    return net


def write_small_checkpoint(folder: Path, regression_seed: int = 0, shipped_tokenizers: bool = False) -> Path:
    """Write the untrained tokenizers into `folder`, a random small regression network `REGRESSION_NAME`, and a random
    `SMALL` transformer "trained" with them, `t.safetensors` (its `tokenizers` metadata: their sha256; its
    `regression` metadata: the regression's file name and sha256, as `train.ship` writes); return the transformer's
    path. With `shipped_tokenizers` the transformer names the shipped tokenizers (`tokenizers/`) instead, and no
    tokenizer is written: for callers that cannot pass `--tokenizers` (the daily job)."""
    folder = Path(folder)
    if shipped_tokenizers:
        hashes = Tokenizers.load().hashes
    else:
        tokenizers = untrained_tokenizers()
        hashes = {name: save_tokenizer(m, name, folder / f"{name}.safetensors") for name, m in tokenizers.models.items()}
    small_regression(regression_seed).save(folder / REGRESSION_NAME, {"preset": "small"})
    regression = {"checkpoint": REGRESSION_NAME, "sha256": sha256(folder / REGRESSION_NAME)}
    torch.manual_seed(0)
    save_model(MultiModalTransformer(SMALL), folder / "t.safetensors",
               {"tokenizers": yaml.safe_dump(hashes), "regression": yaml.safe_dump(regression)})
    return folder / "t.safetensors"


def random_batch(b: int, gen: torch.Generator, missing: tuple[str, ...] = ()) -> Batch:
    """`b` samples of random tokens of every modality; the modalities `missing` absent from every sample."""
    tokens = {m.name: torch.randint(0, m.vocab, (b, m.length), generator=gen) for m in MODALITIES}
    present = {m.name: torch.full((b,), m.name not in missing) for m in MODALITIES}
    return Batch(tokens, present)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on this shared 2-core machine two threads spin against each other (100x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shipped_checkpoint() -> Path:
    from tm_weather.model import DEFAULT_CHECKPOINT

    return Path(os.environ.get("TM_WEATHER_SHIPPED_CHECKPOINT") or DEFAULT_CHECKPOINT)


#: The shipped transformer checkpoint the golden tests check: `model.DEFAULT_CHECKPOINT`, or a candidate named by
#: the environment variable TM_WEATHER_SHIPPED_CHECKPOINT (to try a new checkpoint before it ships). Its
#: regression network and card lie beside it.
SHIPPED_CHECKPOINT = _shipped_checkpoint()

#: Why the shipped-checkpoint tests skip on a checkpoint from before the regression split.
PREDATES_REGRESSION = "shipped checkpoint predates the regression split; retrain"


def shipped_regression(checkpoint: Path | None = None) -> dict | None:
    """The `regression` metadata ({checkpoint: name, sha256}) of the shipped transformer checkpoint (default:
    `SHIPPED_CHECKPOINT`), or None when it has none (a checkpoint from before the regression split) or is
    missing."""
    from safetensors import safe_open

    checkpoint = Path(checkpoint or SHIPPED_CHECKPOINT)
    if not checkpoint.is_file():
        return None
    with safe_open(str(checkpoint), "pt") as f:
        meta = f.metadata() or {}
    return yaml.safe_load(meta["regression"]) if "regression" in meta else None


#: Skip a test of the shipped checkpoints until the shipped transformer names the regression it was trained with.
needs_shipped_regression = pytest.mark.skipif(shipped_regression() is None, reason=PREDATES_REGRESSION)
