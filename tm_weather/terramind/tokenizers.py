"""TerraMind's image tokenizers (`terramind_v1_tokenizer_*` from terratorch's registry) on a `tiles.Tile`.

Each takes its modality standardised as TerraMind was trained: `(x - mean) / std` per channel with TerraMind v1's
pretraining statistics (`v1_pretraining_mean` / `_std` of terratorch's `terramind_register`, the `tok_*@224`
entries), on these physical values:
- s2l2a: the 12 bands B01..B12 as L2A digital numbers without the processing-baseline offset, i.e. surface
  reflectance x 10000 (`Tile.reflectance` is reflectance, so x 10000);
- dem: elevation in metres;
- ndvi: (B08 - B04) / (B08 + B04);
- lulc: a class map, TerraMind classes 1-9 (`Tile.lulc` is 0-8, so + 1), which the tokenizer embeds itself.
The encoders give 14 x 14 tokens per 224 x 224 tile: FSQ 8-8-8-6-5 (15,360 codes), LULC 7-5-5-5-5 (4,375).
`pretrained=False` builds them with random weights (no download); real weights come from a local folder holding
the files as TerraMind publishes them (`FILES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tm_weather.errors import InputError


@dataclass(frozen=True)
class ImageModality:
    """A TerraMind image modality: its tokenizer's registry name, its key in TerraMind's backbone, and the file
    name of its published weights."""

    tokenizer: str
    key: str
    weights_file: str


#: The image modalities, in the order the model's tokens are laid out.
IMAGES = {
    "s2l2a": ImageModality("terramind_v1_tokenizer_s2l2a", "tok_sen2l2a@224", "TerraMind_Tokenizer_S2L2A.pt"),
    "dem": ImageModality("terramind_v1_tokenizer_dem", "tok_dem@224", "TerraMind_Tokenizer_DEM.pt"),
    "lulc": ImageModality("terramind_v1_tokenizer_lulc", "tok_lulc@224", "TerraMind_Tokenizer_LULC.pt"),
    "ndvi": ImageModality("terramind_v1_tokenizer_ndvi", "tok_ndvi@224", "TerraMind_Tokenizer_NDVI.pt"),
}


def standardise(name: str, x: torch.Tensor) -> torch.Tensor:
    """Physical values `(b, c, 224, 224)` -> TerraMind's standardised input (`lulc`: class maps, unchanged)."""
    if name == "lulc":
        return x
    from terratorch.models.backbones.terramind.model.terramind_register import v1_pretraining_mean, v1_pretraining_std

    key = IMAGES[name].key
    mean, std = (torch.tensor(v[key], dtype=torch.float32)[:, None, None] for v in (v1_pretraining_mean, v1_pretraining_std))
    return (x - mean) / std


def physical(name: str, tile) -> torch.Tensor | None:
    """A tile's values of modality `name` as the tokenizer's input before standardisation, batch of one:
    `(1, c, 224, 224)` float32 (`lulc`: `(1, 224, 224)` int64 classes 1-9); None when the tile lacks it."""
    from tm_weather.tokenizers.image_data import ndvi

    if name == "s2l2a":
        return torch.from_numpy(tile.reflectance * np.float32(10000))[None]
    if name == "ndvi":
        return torch.from_numpy(ndvi(tile.reflectance))[None, None]
    if name == "dem":
        return None if tile.dem is None else torch.from_numpy(tile.dem.astype(np.float32))[None, None]
    return None if tile.lulc is None else torch.from_numpy(tile.lulc.astype(np.int64) + 1)[None]


class TerraMindTokenizers:
    """TerraMind's tokenizers of some of `IMAGES`: `models[name]` (eval mode), `loaded[name]`: the weights file
    they were loaded from, or "random"."""

    def __init__(self, models: dict, loaded: dict[str, str]):
        self.models, self.loaded = models, loaded

    @classmethod
    def build(cls, names: tuple[str, ...], weights: Path | None = None) -> TerraMindTokenizers:
        """`terramind_v1_tokenizer_<name>` for each of `names` with `pretrained=False` (no download), loaded
        from `weights/<IMAGES[name].weights_file>` when a folder is given."""
        from tm_weather.terramind.registry import load

        registry = load()
        return cls.adopt({n: registry.models.build(IMAGES[n].tokenizer, pretrained=False) for n in names}, weights)

    @classmethod
    def adopt(cls, models: dict, weights: Path | None) -> TerraMindTokenizers:
        """Tokenizers already built (`{name: module}`), loaded from the `weights` folder when given."""
        loaded = {}
        for name, model in models.items():
            loaded[name] = "random"
            if weights is not None:
                path = Path(weights) / IMAGES[name].weights_file
                load_strict(model, path, f"TerraMind's {name} tokenizer")
                loaded[name] = str(path)
            model.eval()
        return cls(models, loaded)

    @torch.no_grad()
    def encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Physical values (`physical`) `(b, ...)` -> tokens `(b, 196)` int64."""
        tokens = self.models[name].tokenize(standardise(name, x))
        return tokens.reshape(len(x), -1).long()

    def tile_tokens(self, tile) -> dict[str, torch.Tensor]:
        """`{name: (196,)}` for each of this object's modalities that the tile has."""
        out = {}
        for name in self.models:
            x = physical(name, tile)
            if x is not None:
                out[name] = self.encode(name, x)[0]
        return out


def load_strict(model: torch.nn.Module, path: Path, what: str) -> int:
    """Load a `torch.save`d state dict (`weights_only=True`) into `model`, strictly: `InputError` naming `path`
    and the missing keys when it lacks any of the model's parameters (the learned tensors), or has any of the
    model's tensors in another shape. The model's buffers (fixed sin-cos positions, FSQ level tables) are taken
    from the file when it has them and kept otherwise; the file's keys the model does not have are not used
    (TerraMind's checkpoints hold its whole encoder-decoder). Returns the number of tensors loaded."""
    if not Path(path).is_file():
        raise InputError(path, what, "a local weights file (torch.save of a state dict)", "no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, or one with pickled objects
        raise InputError(path, what, "a state dict readable with torch.load(weights_only=True)", str(e)[:160]) from e
    if not isinstance(state, dict):
        raise InputError(path, what, "a state dict (name -> tensor)", type(state).__name__)
    own = model.state_dict()
    missing = sorted(k for k, _ in model.named_parameters() if k not in state)
    if missing:
        raise InputError(path, what, f"every one of the {len(list(model.parameters()))} parameter tensors of {what}",
                         f"{len(missing)} missing: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
    found = {k: state[k] for k in own if k in state}
    wrong = sorted(k for k, v in found.items() if tuple(v.shape) != tuple(own[k].shape))
    if wrong:
        raise InputError(path, what, f"the shapes of {what}",
                         ", ".join(f"{k} {tuple(found[k].shape)} (expected {tuple(own[k].shape)})" for k in wrong[:4]))
    model.load_state_dict({**own, **found}, strict=True)
    return len(found)
