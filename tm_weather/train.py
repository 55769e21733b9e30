"""Training the shared transformer with Lightning: correlation learning on a catalog's train split, validation
skill on its val split, resumable, and the shipped checkpoint with its model card.

    catalog (default: the benchmark world) -> `model.data.catalog_samples` per split (cached in the run folder)
      -> `TokenData` (random training samples, the val split in order)
      -> `CorrelationModule`: `masking.sample` budgets, a loss per modality, AdamW + cosine schedule
      -> `<run>/last.ckpt` (resume) and `checkpoints/transformer-<preset>.safetensors` + `.yaml` (the card)

The profile targets are residuals from the regression network (`tm_weather.model.anomaly`, fitted first by
`anomaly_train`), whose checkpoint the samples are made with and the card names.

Validation logs each modality's loss under the generation task's masking and the profile's *skill*: RMSE (K)
at the valid hour of a one-pass greedy decoding of the residual tokens (`generate.profiles_kelvin`: the
regression's profile, with GFS where the sample has it, + the decoded residual) against the truth's tile mean.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader, Dataset, RandomSampler

import tm_weather  # noqa: F401  (import order: pyproj before eccodes)
from tm_weather.errors import InputError
from tm_weather.outputs import write_text
from tm_weather.model import CHECKPOINT_DIR, masking
from tm_weather.model.anomaly_train import FitConfig
from tm_weather.model.data import Samples, Tokenizers, catalog_samples
from tm_weather.model.generate import as_tokens, profiles_kelvin
from tm_weather.model.masking import Batch, MaskingConfig, TASK_ALWAYS, TASK_OPTIONAL, TASK_TARGETS
from tm_weather.model.transformer import MODALITIES, MODALITY_ID, SIZES, MultiModalTransformer, save_model
from tm_weather.tokenizers.image_data import world_catalog
from tm_weather.tokenizers.registry import sha256

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class TrainPreset:
    """A training run: model size, optimisation, masking budgets, the default world it trains on, and the fit of
    the regression network trained before it (`tm-weather train`; None: none)."""

    size: str
    steps: int
    batch: int
    lr: float
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    weight_decay: float = 0.05
    warmup: int = 50
    val_every: int = 100
    world: str = "demo"  # world preset (seed 0) used when no catalog is given
    threads: int = 1  # torch CPU threads: on a shared CPU two threads spin against each other
    seed: int = 0
    val_samples: int = 512  # validation scores at most this many val samples (`val_subset`)
    regression: FitConfig | None = None


PRESETS = {
    "demo": TrainPreset(size="tiny", steps=600, batch=16, lr=2e-3, regression=FitConfig(steps=1000, relief_steps=750)),
    "full": TrainPreset(size="tiny", steps=3000, batch=16, lr=2e-3, world="full", val_every=500,
                        regression=FitConfig(steps=4000)),
    "base": TrainPreset(size="base", steps=20000, batch=64, lr=3e-4, world="full", val_every=1000, threads=16,
                        regression=FitConfig(steps=4000)),
}


class _Indexed(Dataset):
    """Samples as a map-style dataset of `{"tokens": {name: (length,)}, "present": {name: ()}}`."""

    def __init__(self, samples: Samples):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples
        return {"tokens": {k: v[i] for k, v in s.tokens.items()}, "present": {k: v[i] for k, v in s.present.items()},
                "index": i}


class TokenData(L.LightningDataModule):
    """Train samples drawn at random (with replacement, `steps * batch` per run), val samples in order."""

    def __init__(self, train: Samples, val: Samples, preset: TrainPreset):
        super().__init__()
        self.train, self.val, self.preset = train, val, preset

    def train_dataloader(self) -> DataLoader:
        p = self.preset
        sampler = RandomSampler(range(len(self.train)), replacement=True, num_samples=p.steps * p.batch,
                                generator=torch.Generator().manual_seed(p.seed))
        return DataLoader(_Indexed(self.train), batch_size=p.batch, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Indexed(self.val), batch_size=64)


class CorrelationModule(L.LightningModule):
    """The transformer trained by correlation learning; validation skill needs the T2M tokenizer and the val truth."""

    def __init__(self, preset: TrainPreset, tokenizers: Tokenizers, val: Samples, model: MultiModalTransformer | None = None):
        super().__init__()
        self.preset = preset
        self.model = model or MultiModalTransformer(SIZES[preset.size])
        self.tokenizers, self.val = tokenizers, val
        self.gen = torch.Generator().manual_seed(preset.seed)

    def training_step(self, batch: dict, _) -> torch.Tensor:
        inputs, targets, reveal = masking.sample(Batch(batch["tokens"], batch["present"]), self.preset.masking, self.gen)
        losses = self.model.losses(inputs, targets, reveal)
        loss = sum(losses.values()) / len(losses)
        self.log("train/loss", loss, prog_bar=True)
        for name, value in losses.items():
            self.log(f"train/{name}", value)
        return loss

    def validation_step(self, batch: dict, _) -> None:
        """Per modality, the loss of predicting the generation task's targets from all conditions at once (no
        target revealed); and the profile's RMSE (K) at the valid hour, with GFS (where the batch has it) and
        without: greedy residual tokens decoded onto the regression's profile."""
        tokens, present = batch["tokens"], batch["present"]
        index = batch["index"].cpu()
        rows, hour = torch.arange(len(index)), self.val.hour[index]
        variants = [("gfs", "t2m_residual", self.val.base)] if bool(present["gfs"].all()) else []
        for tag, residual, base in variants + [("clim", "t2m_residual_clim", self.val.base_clim)]:
            conditions = {k: tokens[k] for k in TASK_ALWAYS + TASK_OPTIONAL
                          if bool(present[k].all()) and (k != "gfs" or tag == "gfs")}
            inputs = as_tokens(conditions)
            names = [k for k in TASK_TARGETS if bool(present[k].all()) and k.startswith("t2m_residual") <= (k == residual)]
            targets = as_tokens({k: tokens[k] for k in names})
            nothing = torch.zeros_like(targets.pad)
            out = self.model.decode(self.model.encode(inputs), inputs.pad, targets, nothing)
            for name, value in self.model.losses(inputs, targets, nothing).items():
                self.log(f"val/{name}", value, batch_size=len(index))
            m = MODALITIES[MODALITY_ID[residual]]
            digits = torch.stack([p.argmax(-1) for p in out[residual][0].split(m.levels, dim=-1)], -1)
            greedy = self.model.tokens_from_digits(m, digits).view(len(index), -1).cpu()
            profiles = profiles_kelvin(self.tokenizers, {residual: greedy}, base[index])
            error = profiles[rows, hour] - self.val.profile[index][rows, hour]
            self.log(f"val/profile_rmse_{tag}_k", error.pow(2).mean().sqrt(), batch_size=len(index), prog_bar=True)

    def configure_optimizers(self):
        p = self.preset
        opt = torch.optim.AdamW(self.model.parameters(), lr=p.lr, weight_decay=p.weight_decay, betas=(0.9, 0.95))
        warm = torch.optim.lr_scheduler.LinearLR(opt, 0.01, 1.0, total_iters=p.warmup)
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, p.steps - p.warmup), eta_min=p.lr / 20)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, decay], milestones=[p.warmup])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["masking_generator"] = self.gen.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.gen.set_state(checkpoint["masking_generator"])


def split_samples(catalog_path: Path, split: str, tokenizers: Tokenizers, regression, run_dir: Path,
                  progress=None) -> Samples:
    """A split's samples (`regression`: an `anomaly.AnomalyModel`, or None: no residuals), from `run_dir`'s cache
    when its tokenizers, regression checkpoint and catalog are the same."""
    from tm_weather.catalog import load_catalog

    key = hashlib.sha256((str(Path(catalog_path).resolve()) + "".join(sorted(tokenizers.hashes.values()))
                          + (regression.sha256 if regression is not None else "no regression")).encode())
    cached = run_dir / f"samples-{split}-{key.hexdigest()[:12]}.safetensors"
    if cached.exists():
        return Samples.load(cached)
    samples = catalog_samples(load_catalog(catalog_path), split, tokenizers, regression, progress)
    samples.save(cached)
    return samples


def load_regression(out: Path, preset_name: str, regression: Path | None = None):
    """(path, `anomaly.AnomalyModel`) of the regression network the transformer's residuals are taken from:
    `regression`, default `out/anomaly-<preset>.safetensors`. One elsewhere is copied into `out` (with its card),
    since the transformer's metadata names its regression by a file name beside it."""
    import shutil

    from tm_weather.model.anomaly import load_anomaly

    path = Path(regression or Path(out) / f"anomaly-{preset_name}.safetensors")
    if not path.exists():
        raise InputError(path, "regression checkpoint", "the regression network the transformer's residuals are "
                         f"taken from (tm-weather train --preset {preset_name} --part anomaly)", "no such file")
    if path.resolve().parent != Path(out).resolve():
        Path(out).mkdir(parents=True, exist_ok=True)
        for part in (path, path.with_suffix(".yaml")):
            if part.exists():
                shutil.copy(part, Path(out) / part.name)
        path = Path(out) / path.name
    return path, load_anomaly(path)


def train(preset_name: str = "demo", catalog: Path | None = None, out: Path = CHECKPOINT_DIR,
          run_dir: Path | None = None, tokenizers: Tokenizers | None = None, progress=print,
          steps: int | None = None, regression: Path | None = None) -> Path:
    """Train the transformer with preset `preset_name` on `catalog` (default: the preset's benchmark world),
    its profile targets the residuals of the regression checkpoint `regression` (default:
    `out/anomaly-<preset>.safetensors`), resuming from `run_dir/last.ckpt` if there is one; write
    `out/transformer-<preset>.safetensors` and its model card; return the checkpoint's path. `steps` overrides
    the preset's (short runs, tests)."""

    if preset_name not in PRESETS:
        raise InputError("--preset", "name", f"one of {sorted(PRESETS)}", repr(preset_name))
    preset = PRESETS[preset_name] if steps is None else replace(PRESETS[preset_name], steps=steps,
                                                               warmup=min(PRESETS[preset_name].warmup, steps // 2))
    torch.set_num_threads(preset.threads)
    torch.manual_seed(preset.seed)
    catalog = Path(catalog) if catalog else world_catalog(preset=preset.world)
    run_dir = Path(run_dir or Path("runs") / f"transformer-{preset_name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizers = tokenizers or Tokenizers.load()
    regression_path, reg = load_regression(out, preset_name, regression)
    train_set = split_samples(catalog, "train", tokenizers, reg, run_dir, progress)
    val_set = split_samples(catalog, "val", tokenizers, reg, run_dir, progress)
    val_set = val_subset(val_set, preset.val_samples)
    progress(f"train: {len(train_set)} samples, val: {len(val_set)} samples; {preset.steps} steps of {preset.batch}")

    module = CorrelationModule(preset, tokenizers, val_set)
    last = run_dir / "last.ckpt"
    trainer = L.Trainer(
        max_steps=preset.steps, accelerator="auto", devices=1, default_root_dir=run_dir, logger=L.pytorch.loggers.CSVLogger(run_dir),
        callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir, save_last=True, every_n_train_steps=preset.val_every)],
        val_check_interval=min(preset.val_every, preset.steps), check_val_every_n_epoch=None, enable_model_summary=False,
        log_every_n_steps=10, num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    data = TokenData(train_set, val_set, preset)
    trainer.fit(module, data, ckpt_path=last if last.exists() else None, weights_only=True)
    seconds = time.perf_counter() - start
    # The fit validated at its last step when the steps are a multiple of the interval; validate again only when it
    # did not (another step count, or a resumed run that had already finished: nothing validated in this process).
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    if not metrics or preset.steps % min(preset.val_every, preset.steps):
        metrics = trainer.validate(module, data, verbose=False)[0]
    return ship(module, preset_name, preset, catalog, data, metrics, seconds, out, regression_path)


def val_subset(samples: Samples, n: int, seed: int = 0) -> Samples:
    """At most `n` of `samples`, drawn at random without replacement (seeded), in their order. Not every k-th:
    samples run hour by hour through each tile-day, so a stride that divides 24 keeps one or two hours of the
    day only, and the scores of a night hour stand for the whole day."""
    if len(samples) <= n:
        return samples
    return samples.select(torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:n].sort().values)


def fine_tune(model: MultiModalTransformer, samples: Samples, tokenizers: Tokenizers, steps: int, lr: float = 3e-4,
              batch: int = 16, seed: int = 0) -> MultiModalTransformer:
    """A copy of `model` fine-tuned with Lightning on the generation task alone (`task_fraction=1`: conditions
    in, T2M field, profile and residual out) over `samples` for `steps` steps; no validation, no checkpoints."""
    preset = TrainPreset(size="tiny", steps=steps, batch=batch, lr=lr, masking=MaskingConfig(task_fraction=1.0),
                         warmup=min(20, steps // 2), seed=seed)
    torch.manual_seed(seed)
    module = CorrelationModule(preset, tokenizers, samples, model=copy.deepcopy(model).train())
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        limit_val_batches=0, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, TokenData(samples, samples, preset))
    return module.model.eval()


def ship(module: CorrelationModule, preset_name: str, preset: TrainPreset, catalog: Path, data: TokenData,
         metrics: dict, seconds: float, out: Path, regression: Path) -> Path:
    """Write the trained weights and the model card `transformer-<preset>.yaml` (data, command, metrics, sha256s
    of the tokenizers and of the regression checkpoint its residuals come from)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"transformer-{preset_name}.safetensors"
    tokenizer_hashes = {k: v for k, v in module.tokenizers.hashes.items()}
    regression_card = {"checkpoint": regression.name, "sha256": sha256(regression)}
    save_model(module.model, path, {"preset": preset_name, "tokenizers": yaml.safe_dump(tokenizer_hashes),
                                    "regression": yaml.safe_dump(regression_card)})
    card = {
        "model": "tm-weather shared multimodal transformer (tm_weather/model/transformer.py)",
        "checkpoint": path.name,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "parameters": module.model.num_parameters(),
        "config": module.model.config.to_dict(),
        "command": f"tm-weather train --preset {preset_name}" + (f" --catalog {catalog}" if "tm-weather" not in str(catalog) else "")
        + (f" --steps {preset.steps}" if preset.steps != PRESETS[preset_name].steps else ""),
        "data": {"catalog": str(catalog), "train_samples": len(data.train), "val_samples": len(data.val)},
        "train": {**asdict(preset), "seconds": round(seconds, 1),
                  "samples_per_s": round(preset.steps * preset.batch / max(seconds, 1e-9), 1)},
        "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
        "tokenizers": tokenizer_hashes,
        "regression": regression_card,
        "climate_input": "ERA5 2016-2025 monthly-mean 2 m temperature (tm_weather.climatology), through the regression",
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": str(torch.__version__),
    }
    write_text(out / f"transformer-{preset_name}.yaml", yaml.safe_dump(card, sort_keys=False))
    return path
