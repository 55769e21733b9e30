"""The training loop shared by every tokenizer: AdamW with a one-cycle schedule over random batches.

Each tokenizer provides `loss(batch) -> scalar tensor`; each modality (see `registry`) provides a function
drawing a random training batch. The loop is plain PyTorch so a reader can follow it top to bottom.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run (a preset)."""

    steps: int
    batch: int
    lr: float
    weight_decay: float = 0.0
    warmup: float = 0.05  # fraction of steps spent warming up the learning rate
    seed: int = 0
    threads: int = 1  # torch CPU threads: the machines these run on are shared


def train(
    model: nn.Module,
    draw_batch: Callable[[torch.Generator, int], torch.Tensor],
    config: TrainConfig,
    log_every: int = 500,
) -> list[float]:
    """Train `model` in place on `config.steps` batches from `draw_batch(generator, batch_size)`; return the
    loss of every `log_every`-th step. Seeded: the same config gives the same weights on the same machine."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=config.steps, pct_start=config.warmup
    )
    model.train()
    history, start = [], time.perf_counter()
    for step in range(config.steps):
        loss = model.loss(draw_batch(gen, config.batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == config.steps - 1:
            history.append(float(loss.detach()))
            log.info("step %d/%d loss %.5f (%.0f s)", step, config.steps, history[-1], time.perf_counter() - start)
    model.eval()
    return history
