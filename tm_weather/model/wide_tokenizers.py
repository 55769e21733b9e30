"""T2M tokenizers whose range covers the benchmark world and most of the globe (230 .. 320 K).

The shipped `tokenizers/t2m_field` and `tokenizers/t2m_hourly` are trained on the real ERA5 fixture alone (UK,
March 2019: about 271 .. 286 K), and FSQ's bounded latents saturate outside what they saw: a 295 K field comes
back as 285.6 K, a 260 K one as 271 K (`tm_weather.model.wide_tokenizers` prints the check). The transformer's
T2M tokens must carry any level, so these are the same models, configs and training loop
(`tm_weather.tokenizers`), trained on the same fixture with level augmentation: each training field or window is
shifted by a uniform offset that spreads it over 230 .. 320 K, and hourly windows get their diurnal range scaled
by 0.3 .. 2.5 (the world's range of diurnal factors). The hourly one encodes without the digit search
(`search_passes=0`): the search lowers the error (0.71 against 0.91 K) but makes the tokens jump between
distant codes as the level moves by 0.5 K, which a transformer cannot learn to predict from a few hundred days;
the plain encoder's tokens move smoothly. They are written, with cards, to `checkpoints/tokenizers/`, which
`tm_weather.model.data.Tokenizers.load` reads before `tokenizers/`.

    python -m tm_weather.model.wide_tokenizers [--out checkpoints/tokenizers]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
import yaml

from tm_weather.model import CHECKPOINT_DIR
from tm_weather.tokenizers.cards import ship
from tm_weather.tokenizers.image_data import t2m_field_task
from tm_weather.tokenizers.registry import get_modality
from tm_weather.tokenizers.series_data import hourly_task
from tm_weather.tokenizers.train import train

RANGE_K = (230.0, 320.0)
DIURNAL_SCALE = (0.3, 2.5)


def shifted(x: torch.Tensor, gen: torch.Generator, scale_anomaly: bool) -> torch.Tensor:
    """`x (b, ...)` K, each sample's mean moved to a uniform level in `RANGE_K` (and, if `scale_anomaly`, its
    anomaly about that mean scaled by a uniform factor in `DIURNAL_SCALE`)."""
    b = x.shape[0]
    dims = tuple(range(1, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    level = torch.empty(b, *[1] * (x.ndim - 1)).uniform_(*RANGE_K, generator=gen)
    scale = torch.empty_like(level).uniform_(*DIURNAL_SCALE, generator=gen) if scale_anomaly else 1.0
    return level + (x - mean) * scale


class _Shifted:
    """A tokenizer task whose training draws and evaluation set are level-shifted (evaluation with a fixed seed)."""

    def __init__(self, task, scale_anomaly: bool):
        self.task, self.scale = task, scale_anomaly
        self.data = task.data + f"; levels shifted uniformly over {RANGE_K[0]:.0f}..{RANGE_K[1]:.0f} K" + (
            f", diurnal range scaled by {DIURNAL_SCALE[0]}..{DIURNAL_SCALE[1]}" if scale_anomaly else "")
        task.test = shifted(task.test, torch.Generator().manual_seed(123), scale_anomaly)

    def draw(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        return shifted(self.task.draw(gen, batch), gen, self.scale)

    def evaluate(self, model) -> dict:
        return self.task.evaluate(model)


def train_wide(name: str, out: Path, steps: int) -> dict:
    """Train `name` (t2m_field or t2m_hourly) at its demo size on the level-shifted fixture; ship it to `out`."""
    modality = get_modality(name)
    spec = modality.presets["demo"]
    base = t2m_field_task(None) if name == "t2m_field" else hourly_task(spec.model.length)
    task = _Shifted(base, scale_anomaly=name == "t2m_hourly")
    model = modality.build(replace(spec.model, search_passes=0) if name == "t2m_hourly" else spec.model)
    config = spec.train.__class__(**{**spec.train.__dict__, "steps": steps})
    history = train(model, task.draw, config)
    card = ship(model, name, "demo", task, history[-1], None, out)
    card["command"] = f"python -m tm_weather.model.wide_tokenizers --modality {name} --steps {steps}"
    card["train"]["steps"] = steps
    (out / f"{name}.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return card


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modality", choices=("t2m_field", "t2m_hourly"), required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", type=Path, default=CHECKPOINT_DIR / "tokenizers")
    args = p.parse_args()
    card = train_wide(args.modality, args.out, args.steps)
    print(card["metrics"])


if __name__ == "__main__":
    main()
