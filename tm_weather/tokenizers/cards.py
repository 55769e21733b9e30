"""Train a modality's tokenizer and ship it (checkpoint + model card), and evaluate shipped checkpoints.

A model card is `tokenizers/<modality>.yaml`: the data it was trained and evaluated on, the command that made
it, its config and training settings, its held-out metrics and the checkpoint's sha256.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

import torch
import yaml

from tm_weather.errors import InputError
from tm_weather.outputs import write_text
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, get_modality, load_tokenizer, save_tokenizer, sha256
from tm_weather.tokenizers.train import train

def train_and_ship(modality_name: str, preset: str, data: Path | None = None, out: Path = CHECKPOINT_DIR) -> dict:
    """Train `modality_name` with `preset`, write `<out>/<modality>.safetensors` and `.yaml`; return the card."""
    modality = get_modality(modality_name)
    if preset not in modality.presets:
        raise InputError("--preset", "name", f"one of {sorted(modality.presets)}", repr(preset))
    spec = modality.presets[preset]
    task = modality.task(spec.model, data)
    torch.manual_seed(spec.train.seed)  # the initial weights too, so the same command gives the same checkpoint
    model = modality.build(spec.model)
    history = train(model, task.draw, spec.train)
    return ship(model, modality_name, preset, task, history[-1], data, out)


def ship(model, modality_name: str, preset: str, task, final_loss: float, data: Path | None, out: Path) -> dict:
    """Write `model` as `<out>/<modality>.safetensors` and its model card `<out>/<modality>.yaml`; return the card.

    Metrics are measured on the checkpoint as reloaded (float16 weights), i.e. exactly what ships."""
    modality = get_modality(modality_name)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f"{modality.name}.safetensors"
    digest = save_tokenizer(model, modality.name, ckpt)
    shipped, _ = load_tokenizer(ckpt)
    command = f"tm-weather tokenizers train --modality {modality.name} --preset {preset}"
    card = {
        "modality": modality.name,
        "description": modality.description,
        "checkpoint": ckpt.name,
        "sha256": digest,
        "bytes": ckpt.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": command + (f" --data {data}" if data else "") + (f" --out {out}" if Path(out).resolve() != CHECKPOINT_DIR.resolve() else ""),
        "data": task.data,
        "config": model.config.to_dict(),
        "train": {**asdict(modality.presets[preset].train), "final_loss": round(final_loss, 5)},
        "metrics": task.evaluate(shipped),
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": str(torch.__version__),
    }
    write_text(out / f"{modality.name}.yaml", yaml.safe_dump(card, sort_keys=False))
    return card


def read_card(path: Path) -> dict:
    """A model card, with its checkpoint's sha256 checked."""
    card = yaml.safe_load(Path(path).read_text())
    ckpt = Path(path).parent / card["checkpoint"]
    if not ckpt.exists():
        raise InputError(path, "checkpoint", f"the file {ckpt.name} beside the card", "no such file")
    found = sha256(ckpt)
    if found != card["sha256"]:
        raise InputError(ckpt, "sha256", card["sha256"], found)
    return card


def evaluate_shipped(folder: Path = CHECKPOINT_DIR, only: list[str] | None = None) -> list[tuple[dict, dict]]:
    """(card, metrics measured now) for every model card in `folder` (or those of the modalities `only`), on
    the default data of its modality."""
    cards = sorted(p for p in Path(folder).glob("*.yaml") if not only or p.stem in only)
    if not cards:
        raise InputError(folder, "model cards", "at least one <modality>.yaml", "none")
    rows = []
    for path in cards:
        card = read_card(path)
        model, name = load_tokenizer(path.parent / card["checkpoint"])
        rows.append((card, get_modality(name).task(model.config, None).evaluate(model)))
    return rows
