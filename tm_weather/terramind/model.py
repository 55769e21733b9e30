"""TerraMind's encoder as the shared transformer, with the weather modalities added as new ones.

    inputs:  TerraMind image tokens (s2l2a, and dem / lulc / ndvi when configured and present), each (b, 196),
             embedded by TerraMind's own `encoder_embeddings["tok_*@224"]` (token table + 2-D sin-cos position +
             modality vector); the new input modalities gfs (b, 2), coords (b, 2) and time (b, 2)
    encoder: TerraMind's blocks and norm (`terramind_v1_tiny`: 192 wide, 12 blocks; `_base`: 768, 12) -> memory
    decoder: new blocks (`tm_weather.model.transformer.Block`, with cross-attention to the memory) over the target
             positions of t2m_field (196) and t2m_hourly (2), each masked or revealed
    heads:   new, one softmax per FSQ digit of each target's tokens (the project's factorised heads)

New modalities get their own embeddings: a token table (like TerraMind's, one row per FSQ code, 15,360) plus a
modality vector plus a fixed sine-cosine position (2-D on the 14 x 14 grid for t2m_field, 1-D for series); coords
and time are continuous (`tm_weather.model.transformer.CONTINUOUS`: sin/cos features through a small MLP).
The weather tokens are the project's own tokenizers' (`model.data.TOKENIZER_OF`), the image tokens TerraMind's.

What is TerraMind's (`TERRAMIND_PREFIXES`) is initialised from a local TerraMind checkpoint when one is given
(`load_terramind`: every key must be there) and random otherwise, and is never trained here; the rest is new and
trained (`trained_parameters`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tm_weather.errors import InputError
from tm_weather.model.transformer import CONTINUOUS, GRID, MODALITIES, MODALITY_ID, Block, ModelConfig, _basis, sincos
from tm_weather.terramind.tokenizers import IMAGES

#: `--backbone` name -> terratorch's backbone registry name.
BACKBONES = {"terramind-tiny": "terramind_v1_tiny", "terramind-base": "terramind_v1_base"}
#: The new modalities: generated targets, and inputs (besides TerraMind's images).
#: What it generates: the field's pattern and the absolute hourly profile (GFS, when given, is an input only: the
#: project's regression split, `model.anomaly`, is not wired to this backbone).
TARGETS = ("t2m_field", "t2m_hourly")
INPUTS = ("gfs", "coords", "time")
#: State-dict prefixes of the TerraMind part (the rest of the model is new).
TERRAMIND_PREFIXES = ("backbone.",)
#: Seed of the random weights that `WeatherTerraMind.build` starts from (TerraMind's part and its tokenizers).
SEED = 0
#: The checkpoint's `format` metadata, how `tm-weather generate` recognises one.
FORMAT = "tm-weather-terramind"


@dataclass(frozen=True)
class TerraMindConfig:
    """`backbone`: a `BACKBONES` key; `images`: TerraMind image modalities used (`tokenizers.IMAGES` keys);
    the new decoder's depth and heads (its width is the backbone's)."""

    backbone: str = "terramind-tiny"
    images: tuple[str, ...] = ("s2l2a", "dem", "lulc", "ndvi")
    decoder_layers: int = 2
    decoder_heads: int = 4

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone: expected one of {sorted(BACKBONES)}, got {self.backbone!r}")
        if "s2l2a" not in self.images or not set(self.images) <= set(IMAGES):
            raise ValueError(f"images: expected s2l2a and any of {sorted(IMAGES)}, got {self.images}")
        object.__setattr__(self, "images", tuple(n for n in IMAGES if n in self.images))


class WeatherTerraMind(nn.Module):
    """TerraMind's encoder + new weather embeddings, decoder and heads. `build` makes one (random TerraMind
    weights); `losses` trains it; `encode` + `decode` generate."""

    def __init__(self, config: TerraMindConfig, backbone: nn.Module):
        super().__init__()
        self.config = config
        self.backbone = backbone
        d = backbone.encoder_norm.weight.shape[0]
        self.width = d
        new = [MODALITIES[MODALITY_ID[n]] for n in TARGETS + INPUTS]
        self.token_embed = nn.ModuleDict({m.name: nn.Embedding(m.vocab, d) for m in new if m.name not in CONTINUOUS})
        self.continuous_embed = nn.ModuleDict({name: nn.Sequential(nn.Linear(n, d), nn.GELU(), nn.Linear(d, d))
                                               for name, (_, n) in CONTINUOUS.items()})
        self.modality_embed = nn.ParameterDict({m.name: nn.Parameter(torch.randn(d) * 0.02) for m in new})
        for m in new:
            p = torch.arange(m.length)
            pos = torch.cat([sincos(p // m.grid, d // 2), sincos(p % m.grid, d // 2)], 1) if m.grid else sincos(p, d)
            self.register_buffer(f"position_{m.name}", pos, persistent=False)
        self.mask_embed = nn.Parameter(torch.zeros(d))
        block = ModelConfig(width=d, heads=config.decoder_heads)
        self.decoder = nn.ModuleList(Block(block, cross=True) for _ in range(config.decoder_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.heads = nn.ModuleDict({n: nn.Linear(d, sum(MODALITIES[MODALITY_ID[n]].levels)) for n in TARGETS})
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    @classmethod
    def build(cls, config: TerraMindConfig) -> tuple[WeatherTerraMind, dict]:
        """A model with TerraMind's backbone from terratorch's registry, `pretrained=False` (random from `SEED`, no download),
        and the TerraMind tokenizers of `config.images` that the registry built with it (`{name: module}`): the
        backbone builds them for its token modalities; they are handed out, not kept in the model."""
        from tm_weather.terramind.registry import load

        keys = [IMAGES[n].key for n in config.images]
        with torch.random.fork_rng():  # random weights, the same in every process (a tile's tokens with them too)
            torch.manual_seed(SEED)
            backbone = load().backbones.build(BACKBONES[config.backbone], pretrained=False, modalities=keys, merge_method=None)
        tokenizers = {n: backbone.tokenizer[IMAGES[n].key] for n in config.images}
        backbone.tokenizer = nn.ModuleDict()
        return cls(config, backbone), tokenizers

    def trained_parameters(self) -> dict[str, nn.Parameter]:
        """The new parameters (everything outside `backbone.`), the only ones trained."""
        return {k: p for k, p in self.named_parameters() if not k.startswith(TERRAMIND_PREFIXES)}

    def _embed_new(self, name: str, tokens: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """New-modality tokens `(b, length)` -> `(b, length, d)`: token embedding where `known (b, length)`
        (default: everywhere), the mask embedding elsewhere, plus modality and position embeddings."""
        if name in CONTINUOUS:
            features, _ = CONTINUOUS[name]
            tok = self.continuous_embed[name](features(tokens.flatten())).view(*tokens.shape, self.width)
        else:
            tok = self.token_embed[name](tokens)
        if known is not None:
            tok = torch.where(known[..., None], tok, self.mask_embed)
        return tok + self.modality_embed[name] + getattr(self, f"position_{name}")

    def encode(self, images: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Image tokens `{name: (b, 196)}` (TerraMind's) and new inputs `{gfs / coords / time: (b, 2)}` ->
        memory `(b, n, d)` through TerraMind's encoder."""
        parts = []
        for name, tokens in images.items():
            e = self.backbone.encoder_embeddings[IMAGES[name].key](tokens.view(len(tokens), GRID, GRID))
            parts.append(e["x"] + e["emb"])
        parts += [self._embed_new(name, tokens) for name, tokens in inputs.items()]
        x = torch.cat(parts, dim=1)
        for block in self.backbone.encoder:
            x = block(x)
        return self.backbone.encoder_norm(x)

    def decode(self, memory: torch.Tensor, targets: dict[str, torch.Tensor], reveal: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Target tokens `{name: (b, length)}` (read only where `reveal[name] (b, length)`) -> FSQ digit logits
        `{name: (b, length, sum(levels))}` at every position."""
        names = list(targets)
        x = torch.cat([self._embed_new(n, targets[n], reveal[n]) for n in names], dim=1)
        pad = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        memory_pad = torch.zeros(memory.shape[:2], dtype=torch.bool, device=x.device)
        for block in self.decoder:
            x = block(x, pad, memory, memory_pad)
        x = self.decoder_norm(x)
        lengths = [targets[n].shape[1] for n in names]
        return {n: self.heads[n](part) for n, part in zip(names, x.split(lengths, dim=1))}

    def losses(self, images, inputs, targets, reveal) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood (nats per token, summed over FSQ digits) of the masked target tokens."""
        out = {}
        for name, logits in self.decode(self.encode(images, inputs), targets, reveal).items():
            masked = ~reveal[name]
            levels = MODALITIES[MODALITY_ID[name]].levels
            digits = fsq_digits(name, targets[name][masked])
            out[name] = sum(F.cross_entropy(p, digits[:, j]) for j, p in enumerate(logits[masked].split(levels, dim=-1)))
        return out


def fsq_digits(name: str, tokens: torch.Tensor) -> torch.Tensor:
    """Token indices `(...)` of a new modality -> FSQ digits `(..., len(levels))` (TerraMind's index convention)."""
    levels = MODALITIES[MODALITY_ID[name]].levels
    return (tokens[..., None] // _basis(levels).to(tokens.device)) % torch.tensor(levels, device=tokens.device)


def fsq_tokens(name: str, digits: torch.Tensor) -> torch.Tensor:
    """FSQ digits `(..., len(levels))` -> token indices `(...)`."""
    return (digits * _basis(MODALITIES[MODALITY_ID[name]].levels).to(digits.device)).sum(-1)


def terramind_state(model: WeatherTerraMind) -> dict[str, torch.Tensor]:
    """The TerraMind part of the state dict, under TerraMind's own key names (`backbone.` removed)."""
    return {k[len("backbone."):]: v for k, v in model.state_dict().items() if k.startswith("backbone.")}


def load_terramind(model: WeatherTerraMind, path: Path) -> int:
    """Initialise the TerraMind part from a local TerraMind checkpoint (`torch.save` of a state dict, read with
    `weights_only=True`; keys as in TerraMind's published `TerraMind_v1_*.pt`), through `tokenizers.load_strict`:
    `InputError` naming the file and the missing keys if any parameter of the TerraMind part is absent (or any
    tensor of another shape); the file's other keys (TerraMind's decoder, its other modalities' embeddings) are
    not used. Returns the number of tensors loaded."""
    from tm_weather.terramind.tokenizers import load_strict

    return load_strict(model.backbone, path, f"TerraMind's {model.config.backbone} encoder")


def save(model: WeatherTerraMind, path: Path, metadata: dict[str, str]) -> None:
    """Write every tensor (float32) as safetensors, with `config`, `format` and `metadata` in the header."""
    from tm_weather.checkpoint_io import save_safetensors

    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_safetensors(tensors, path, {**metadata, "format": FORMAT, "config": json.dumps(asdict(model.config))})


def load(path: Path) -> tuple[WeatherTerraMind, dict, dict[str, str]]:
    """A checkpoint written by `save` -> (model in eval mode, the TerraMind tokenizers built with its backbone
    (`{name: module}`, random until loaded), its metadata). Safetensors only: no pickle is ever read."""
    from tm_weather.checkpoint_io import read_safetensors

    tensors, meta = read_safetensors(path, "a safetensors TerraMind-backbone checkpoint")
    if meta.get("format") != FORMAT:
        raise InputError(path, "metadata format", FORMAT, repr(meta.get("format")))
    try:
        config = json.loads(meta["config"])
        config = TerraMindConfig(**{**config, "images": tuple(config["images"])})
    except (KeyError, ValueError, TypeError) as e:
        raise InputError(path, "metadata config", "a TerraMindConfig as JSON", str(e)[:160]) from e
    model, tokenizers = WeatherTerraMind.build(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise InputError(path, "tensors", f"the weights of a {config.backbone} weather model", str(e)[:160]) from e
    return model.eval(), tokenizers, meta


def is_checkpoint(path: Path) -> bool:
    """Whether `path` is a safetensors file whose `format` metadata is `FORMAT` (reads the header only)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except Exception:  # not safetensors: the caller's own loader reports it
        return False

