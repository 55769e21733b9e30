"""Correlation learning (4M, Mizrahi et al. 2023, arXiv 2312.06647): per sample, a random budget of input tokens and
one of target tokens, each spread over the modalities by Dirichlet proportions.

For each sample, proportions `p ~ Dirichlet(alpha)` over the modalities it has decide how the input budget is
spread; the tokens themselves are drawn without replacement with weight `p_m / length_m` per token of modality m
(Efraimidis-Spirakis keys), so each modality gets about its share `p_m` of the budget, a modality runs out only
when all its tokens are used, and the budget is met exactly whenever the sample has enough tokens. Target tokens
are drawn the same way, with fresh proportions, from the tokens of target modalities not already chosen as
input. One model so learns S-2 -> T2M, series -> field, field -> series, S-2 -> LULC and the rest at once.

A `task_fraction` of the samples instead take the generation task itself: all their conditioning tokens as
input (each optional conditioning modality dropped with probability 1/2, so any subset is seen) and the T2M
field, hourly profile and the profile's residual from the regression (`t2m_residual` when GFS is among the inputs,
`t2m_residual_clim` when not) as targets, each modality an equal share of the budgets (budgets keep the cost per step
fixed; equal shares keep the 2-token series in).

Decoder targets are partly *revealed* (given with their token, no loss) at a MaskGIT ratio `1 - cos(pi u / 2)`,
`u ~ U(0, 1)`, as iterative decoding feeds decoded tokens back (see `generate.py`); an `unrevealed` fraction of
samples reveal nothing: the first decoding step, which sets a field's level, sees no target token, and on a
near-uniform field the revealed tokens would otherwise teach mostly copying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tm_weather.model.transformer import MODALITIES, MODALITY_ID, Tokens

#: What generation predicts, and what it may condition on (always: S-2, coordinates, time).
TASK_TARGETS = ("t2m_field", "t2m_hourly", "t2m_residual", "t2m_residual_clim")
TASK_ALWAYS = ("s2l2a", "coords", "time")
TASK_OPTIONAL = ("dem", "lulc", "ndvi", "gfs")


@dataclass(frozen=True)
class MaskingConfig:
    """Token budgets per sample and Dirichlet concentration `alpha` (4M: small alpha -> few modalities each)."""

    inputs: int = 96
    targets: int = 48
    alpha: float = 0.5
    task_fraction: float = 0.5
    unrevealed: float = 0.5  # fraction of samples with no target revealed (generation's first, decisive step)


@dataclass
class Batch:
    """Tokens of every modality for `b` samples: `tokens[name]` int64 `(b, length)`, `present[name]` bool `(b,)`."""

    tokens: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]

    @property
    def size(self) -> int:
        return next(iter(self.tokens.values())).shape[0]


def flat(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All tokens of a batch side by side: token, modality, position `(b, N)` int64, and available `(b, N)` bool."""
    parts = []
    for i, m in enumerate(MODALITIES):
        tok = batch.tokens[m.name]
        b = tok.shape[0]
        parts.append((tok, torch.full_like(tok, i), torch.arange(m.length).expand(b, -1),
                      batch.present[m.name][:, None].expand(-1, m.length)))
    return tuple(torch.cat(p, dim=1) for p in zip(*parts))


def _weighted_pick(weights: torch.Tensor, budget: int, gen: torch.Generator) -> torch.Tensor:
    """Draw `budget` entries per row without replacement with probability proportional to `weights (b, N)`
    (zero weight: never). -> bool `(b, N)`. Efraimidis-Spirakis: keep the `budget` smallest `-log(u) / w`."""
    u = torch.rand(weights.shape, generator=gen).clamp_min(1e-12)
    keys = torch.where(weights > 0, -torch.log(u) / weights.clamp_min(1e-30), torch.inf)
    order = keys.argsort(dim=1)[:, :budget]
    chosen = torch.zeros_like(weights, dtype=torch.bool).scatter_(1, order, True)
    return chosen & (weights > 0)


def _lengths() -> torch.Tensor:
    return torch.tensor([m.length for m in MODALITIES], dtype=torch.float32)


def _equal_shares(allowed: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
    """Per-token weights `1 / length_m` `(b, N)` where allowed: every allowed modality the same expected share."""
    return torch.where(allowed, 1.0 / _lengths()[modality], 0.0)


def _dirichlet_weights(allowed: torch.Tensor, modality: torch.Tensor, alpha: float, gen: torch.Generator) -> torch.Tensor:
    """Per-token weights `p_m / length_m` `(b, N)` with `p ~ Dirichlet(alpha)` over each row's allowed modalities
    (normalised Gamma(alpha) draws, from a NumPy generator seeded by `gen`)."""
    b = allowed.shape[0]
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
    g = torch.from_numpy(rng.gamma(alpha, size=(b, len(MODALITIES))).astype(np.float32))
    has = torch.zeros(b, len(MODALITIES), dtype=torch.bool).scatter_reduce(1, modality, allowed, "amax")
    p = torch.where(has, g, 0.0)
    p = p / p.sum(1, keepdim=True).clamp_min(1e-30)
    return torch.where(allowed, (p / _lengths()).gather(1, modality), 0.0)


def _task_rows(modality: torch.Tensor, available: torch.Tensor, b: int, gen: torch.Generator):
    """Input and target eligibility `(b, N)` for the generation task (optional inputs dropped at random)."""
    keep = torch.rand(b, len(MODALITIES), generator=gen) < 0.5
    for name in TASK_ALWAYS:
        keep[:, MODALITY_ID[name]] = True
    is_target = torch.zeros(len(MODALITIES), dtype=torch.bool)
    is_target[[MODALITY_ID[n] for n in TASK_TARGETS]] = True
    is_cond = torch.zeros(len(MODALITIES), dtype=torch.bool)
    is_cond[[MODALITY_ID[n] for n in TASK_ALWAYS + TASK_OPTIONAL]] = True
    inputs = available & is_cond[modality] & keep.gather(1, modality)
    targets = available & is_target[modality]
    # the residual from the regression given GFS is generation's target only with GFS among the inputs, the one
    # without GFS only without it (`generate.t2m_targets`)
    with_gfs = (inputs & (modality == MODALITY_ID["gfs"])).any(1, keepdim=True)
    return inputs, targets & ~((modality == MODALITY_ID["t2m_residual"]) & ~with_gfs) \
        & ~((modality == MODALITY_ID["t2m_residual_clim"]) & with_gfs)


def sample(batch: Batch, config: MaskingConfig, gen: torch.Generator) -> tuple[Tokens, Tokens, torch.Tensor]:
    """A batch -> (encoder inputs `Tokens (b, inputs)`, decoder targets `Tokens (b, targets)`, revealed `(b,
    targets)` bool), by Dirichlet budgets (or the generation task for a `task_fraction` of the samples)."""
    token, modality, position, available = flat(batch)
    b = token.shape[0]
    can_target = torch.tensor([m.target for m in MODALITIES])[modality] & available

    task = torch.rand(b, generator=gen) < config.task_fraction
    task_in, task_out = _task_rows(modality, available, b, gen)
    in_allowed = torch.where(task[:, None], task_in, available)
    w_in = torch.where(task[:, None], _equal_shares(task_in, modality), _dirichlet_weights(in_allowed, modality, config.alpha, gen))
    chosen_in = _weighted_pick(w_in, config.inputs, gen)

    out_allowed = torch.where(task[:, None], task_out, can_target) & ~chosen_in
    w_out = torch.where(task[:, None], _equal_shares(out_allowed, modality), _dirichlet_weights(out_allowed, modality, config.alpha, gen))
    chosen_out = _weighted_pick(w_out, config.targets, gen)

    inputs = gather(token, modality, position, chosen_in, config.inputs)
    targets = gather(token, modality, position, chosen_out, config.targets)
    ratio = 1 - torch.cos(math.pi / 2 * torch.rand(b, 1, generator=gen))
    ratio = torch.where(torch.rand(b, 1, generator=gen) < config.unrevealed, 0.0, ratio)
    reveal = (torch.rand(targets.token.shape, generator=gen) < ratio) & ~targets.pad
    return inputs, targets, reveal


def gather(token: torch.Tensor, modality: torch.Tensor, position: torch.Tensor, chosen: torch.Tensor, n: int) -> Tokens:
    """The `chosen (b, N)` entries of each row, left-aligned and padded to `n` -> `Tokens (b, n)`."""
    order = torch.argsort((~chosen).to(torch.int8), dim=1, stable=True)[:, :n]
    pad = ~chosen.gather(1, order)
    return Tokens(token.gather(1, order), modality.gather(1, order), position.gather(1, order), pad)
