"""Training the shared transformer (`tm_weather.train`) with Lightning's DDP across processes and nodes.

    python -m tm_weather.jobs.ddp --catalog C --devices 2 [--num-nodes N] [--accelerator cpu|gpu] [--steps S]

Lightning starts the other processes of this node by running the same command again with its rank in the
environment (its subprocess launcher); on a cluster, run the command once per node with `MASTER_ADDR`,
`MASTER_PORT`, `NODE_RANK` (and `WORLD_SIZE`) set, or under SLURM / torchrun, which Lightning detects. On CPU the
processes talk through gloo, on GPUs through NCCL. Every process trains on its share of each batch (Lightning
wraps the samplers in distributed ones); gradients are averaged across them; rank 0 writes the checkpoint, its
model card and `last.ckpt` exactly as a one-process `tm-weather train` does.

The samples are built (and cached in the run folder) before training starts, by the first process alone: the
others are started when training starts and find them in the cache.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.model import CHECKPOINT_DIR
from tm_weather.model.data import Tokenizers
from tm_weather.train import (PRESETS, CorrelationModule, TokenData, load_regression, ship, split_samples,
                              val_subset)


def train_ddp(catalog: Path, out: Path = CHECKPOINT_DIR, run_dir: Path = Path("runs/transformer-ddp"),
              preset_name: str = "demo", steps: int | None = None, devices: int = 2, num_nodes: int = 1,
              accelerator: str = "cpu") -> Path | None:
    """Train `preset_name` on `catalog` over `devices` processes per node and `num_nodes` nodes; rank 0 ships the
    checkpoint and returns its path (None on the other ranks). Resumes from `run_dir/last.ckpt` when present."""
    preset = PRESETS[preset_name]
    if steps is not None:
        preset = replace(preset, steps=steps, warmup=min(preset.warmup, steps // 2))
    torch.set_num_threads(preset.threads)
    torch.manual_seed(preset.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizers = Tokenizers.load()
    regression_path, regression = load_regression(out, preset_name)
    train, val = (split_samples(catalog, split, tokenizers, regression, run_dir) for split in ("train", "val"))
    data = TokenData(train, val_subset(val, preset.val_samples), preset)
    module = CorrelationModule(preset, tokenizers, data.val)
    backend = "nccl" if accelerator == "gpu" else "gloo"
    trainer = L.Trainer(
        max_steps=preset.steps, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
        # each step masks a random subset of modalities, so some embeddings and heads get no gradient
        strategy=DDPStrategy(process_group_backend=backend, find_unused_parameters=True), default_root_dir=run_dir,
        logger=L.pytorch.loggers.CSVLogger(run_dir),
        callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir, save_last=True,
                                                       every_n_train_steps=preset.val_every)],
        val_check_interval=min(preset.val_every, preset.steps), check_val_every_n_epoch=None,
        enable_model_summary=False, enable_progress_bar=False, log_every_n_steps=1, num_sanity_val_steps=0,
    )
    last = run_dir / "last.ckpt"
    start = time.perf_counter()
    trainer.fit(module, data, ckpt_path=last if last.exists() else None, weights_only=True)
    seconds = time.perf_counter() - start
    metrics = trainer.validate(module, data, verbose=False)[0]
    print(f"rank {trainer.global_rank} of {trainer.world_size} ({backend}): {trainer.global_step} steps", flush=True)
    if not trainer.is_global_zero:
        return None
    return ship(module, preset_name, preset, catalog, data, metrics, seconds, out, regression_path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tm_weather.jobs.ddp", description=__doc__.split("\n\n")[0])
    p.add_argument("--catalog", type=Path, required=True, help="catalog with train and val splits")
    p.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoint and card")
    p.add_argument("--run-dir", type=Path, default=Path("runs/transformer-ddp"), help="resumable state and logs")
    p.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    p.add_argument("--steps", type=int, help="override the preset's number of steps")
    p.add_argument("--devices", type=int, default=2, help="processes (CPU) or GPUs per node (default: 2)")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
    a = p.parse_args(argv)
    path = train_ddp(a.catalog, a.out, a.run_dir, a.preset, a.steps, a.devices, a.num_nodes, a.accelerator)
    if path:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
