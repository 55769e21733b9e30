"""The hourly T2M tokenizer whose range covers the benchmark world and most of the globe (230 .. 320 K).

The shipped `tokenizers/t2m_hourly` is trained on the real ERA5 fixture alone (UK, March 2019: about 271 .. 286
K), and FSQ's bounded latents saturate outside what it saw (a 295 K day comes back about 10 K too cold). The
transformer's hourly tokens (its absolute profile and the GFS series) must carry any level, so this is the same
model, config and training loop (`tm_weather.tokenizers`), trained on the same fixture with level augmentation:
each training window is shifted by a uniform offset that spreads it over 230 .. 320 K and its diurnal range
scaled by 0.3 .. 2.5 (the world's range of diurnal factors). It encodes without the digit search
(`search_passes=0`): the search lowers the error (0.71 against 0.91 K) but makes the tokens jump between distant
codes as the level moves by 0.5 K, which a transformer cannot learn to predict from a few hundred days; the
plain encoder's tokens move smoothly. It is written, with its card, to `checkpoints/tokenizers/`, which
`tm_weather.model.data.Tokenizers.load` reads before `tokenizers/`. (The field's tokens carry only its
pattern, with a tokenizer of its own: `tm_weather.model.pattern`.)

    python -m tm_weather.model.wide_tokenizers --modality t2m_hourly [--steps 1500] [--out checkpoints/tokenizers]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
import yaml

from tm_weather.model import CHECKPOINT_DIR
from tm_weather.outputs import write_text
from tm_weather.tokenizers.cards import ship
from tm_weather.tokenizers.registry import get_modality
from tm_weather.tokenizers.series_data import hourly_task
from tm_weather.tokenizers.train import train

RANGE_K = (230.0, 320.0)
DIURNAL_SCALE = (0.3, 2.5)


def shifted(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """`x (b, ...)` K, each sample's mean moved to a uniform level in `RANGE_K` and its anomaly about that mean
    scaled by a uniform factor in `DIURNAL_SCALE`."""
    b = x.shape[0]
    dims = tuple(range(1, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    level = torch.empty(b, *[1] * (x.ndim - 1)).uniform_(*RANGE_K, generator=gen)
    scale = torch.empty_like(level).uniform_(*DIURNAL_SCALE, generator=gen)
    return level + (x - mean) * scale


class _Shifted:
    """A tokenizer task whose training draws and evaluation set are level-shifted (evaluation with a fixed seed)."""

    def __init__(self, task):
        self.task = task
        self.data = (task.data + f"; levels shifted uniformly over {RANGE_K[0]:.0f}..{RANGE_K[1]:.0f} K, diurnal range "
                     f"scaled by {DIURNAL_SCALE[0]}..{DIURNAL_SCALE[1]}")
        task.test = shifted(task.test, torch.Generator().manual_seed(123))

    def draw(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        return shifted(self.task.draw(gen, batch), gen)

    def evaluate(self, model) -> dict:
        return self.task.evaluate(model)


def train_wide(name: str, out: Path, steps: int) -> dict:
    """Train `name` (t2m_hourly) at its demo size on the level-shifted fixture; ship it to `out`."""
    modality = get_modality(name)
    spec = modality.presets["demo"]
    task = _Shifted(hourly_task(spec.model.length))
    model = modality.build(replace(spec.model, search_passes=0))
    config = spec.train.__class__(**{**spec.train.__dict__, "steps": steps})
    history = train(model, task.draw, config)
    card = ship(model, name, "demo", task, history[-1], None, out)
    card["command"] = f"python -m tm_weather.model.wide_tokenizers --modality {name} --steps {steps}"
    card["train"]["steps"] = steps
    write_text(out / f"{name}.yaml", yaml.safe_dump(card, sort_keys=False))
    return card


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modality", choices=("t2m_hourly",), required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", type=Path, default=CHECKPOINT_DIR / "tokenizers")
    args = p.parse_args()
    card = train_wide(args.modality, args.out, args.steps)
    print(card["metrics"])


if __name__ == "__main__":
    main()
