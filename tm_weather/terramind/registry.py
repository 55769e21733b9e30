"""TerraMind's code from terratorch, imported without the rest of terratorch (the `terramind` extra).

`import terratorch` runs terratorch's package `__init__`, which imports every dataset, datamodule, task and
backbone it has (torchgeo, albumentations, geopandas, segmentation-models-pytorch, torchvision, ...). TerraMind's
tokenizers and backbone need none of that: their modules import torch, einops, huggingface_hub (for the hub
download that this package never triggers: `pretrained=False`, local weights only), diffusers (the tokenizers'
diffusion decoders), terratorch's registry module and one torchvision function. So `load` puts empty package
modules for `terratorch`, `terratorch.models`, `terratorch.models.backbones` and `terratorch.registry` in
`sys.modules` (each with the installed package's folder as its path, so their submodules import as usual),
and imports `terratorch.models.backbones.terramind`, whose import registers `terramind_v1_*` in terratorch's
registries, with that torchvision function provided for the import unless torchvision is imported already. The
index has no CPU torchvision for the pinned torch 2.13 (PyPI's fails with "operator torchvision::nms does not
exist"), so the extra installs none, and a broken one that some other install brought is never imported here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from contextlib import contextmanager
from functools import cache
from pathlib import Path

#: What the `terramind` extra installs: `make terramind` (requirements-terramind.txt).
EXTRA_HINT = "the terramind extra (make terramind, or pip install --no-deps -r requirements-terramind.txt)"


def available() -> bool:
    """Whether terratorch is installed (without importing it)."""
    return importlib.util.find_spec("terratorch") is not None


@cache
def load() -> types.SimpleNamespace:
    """TerraMind's registries: `backbones` (TERRATORCH_BACKBONE_REGISTRY: `terramind_v1_tiny`, `_base`, ...) and
    `models` (TERRATORCH_FULL_MODEL_REGISTRY: `terramind_v1_tokenizer_s2l2a`, ...); `InputError` (exit 2) without
    the extra."""
    from tm_weather.errors import InputError

    spec = importlib.util.find_spec("terratorch")
    if spec is None:
        raise InputError("terratorch", "package", EXTRA_HINT, "not installed")
    if "terratorch" not in sys.modules:  # else the whole of terratorch is imported already, registries included
        root = Path(spec.origin).parent
        for name in ("terratorch", "terratorch.models", "terratorch.models.backbones", "terratorch.registry"):
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = package
        # the registries themselves, without the smp / timm / mmseg sources that `terratorch.registry` adds
        registry = importlib.import_module("terratorch.registry.registry")
        sys.modules["terratorch.registry"].__dict__.update({k: v for k, v in vars(registry).items() if k.isupper()})
    with _torchvision_normalize():
        importlib.import_module("terratorch.models.backbones.terramind")
    registry = sys.modules["terratorch.registry"]
    return types.SimpleNamespace(backbones=registry.TERRATORCH_BACKBONE_REGISTRY, models=registry.TERRATORCH_FULL_MODEL_REGISTRY)


@contextmanager
def _torchvision_normalize():
    """`torchvision.transforms.functional.normalize`, the one torchvision function TerraMind's code imports (for its
    tokenizers' `denormalize`): `(x - mean) / std` per channel of `(..., c, h, w)`, in a module that TerraMind's
    import binds and that leaves `sys.modules` again right after it, so nothing else (Lightning and torchmetrics
    probe for torchvision) takes it for torchvision. diffusers, which probes for torchvision once when imported,
    is imported first. A torchvision already imported is used as it is."""

    def normalize(x, mean, std, inplace=False):
        import torch

        mean, std = (torch.as_tensor(v, dtype=x.dtype, device=x.device)[:, None, None] for v in (mean, std))
        return (x - mean) / std

    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    if names[2] in sys.modules:  # a working torchvision, imported already
        yield
        return
    importlib.import_module("diffusers")
    modules = [types.ModuleType(n) for n in names]
    modules[2].normalize = normalize
    for parent, child, n in zip(modules, modules[1:], names[1:]):
        setattr(parent, n.rsplit(".", 1)[1], child)
    sys.modules.update(zip(names, modules))
    try:
        yield
    finally:
        for n in names:
            del sys.modules[n]
