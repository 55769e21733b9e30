"""The shared transformer and its correlation-learning masks: budgets, shapes, shared-memory attention, a
tiny overfit, checkpoint round trip."""

from __future__ import annotations

import torch

from model_support import one_thread, random_batch  # noqa: F401  (fixture)
from tm_weather.model.masking import MaskingConfig, TASK_TARGETS, sample
from tm_weather.model.transformer import (
    HOURS, MODALITIES, MODALITY_ID, ModelConfig, MultiModalTransformer, load_model, save_model, time_features,
)

SMALL = ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1)


def test_masking_budgets_respected():
    gen = torch.Generator().manual_seed(0)
    batch = random_batch(64, gen, missing=("gfs",))
    config = MaskingConfig(inputs=40, targets=24, alpha=0.5, task_fraction=0.0)
    inputs, targets, reveal = sample(batch, config, gen)
    assert inputs.token.shape == (64, 40) and targets.token.shape == (64, 24)
    assert bool((~inputs.pad).sum(1).eq(40).all()) and bool((~targets.pad).sum(1).eq(24).all())
    gfs = MODALITY_ID["gfs"]
    assert not bool((inputs.modality[~inputs.pad] == gfs).any()) and not bool((targets.modality[~targets.pad] == gfs).any())
    not_targets = [i for i, m in enumerate(MODALITIES) if not m.target]
    assert not bool(torch.isin(targets.modality[~targets.pad], torch.tensor(not_targets)).any())
    for row in range(64):  # inputs and targets are disjoint tokens, each listed once, and carry their own token
        seen_in = {(int(m), int(p)) for m, p, x in zip(inputs.modality[row], inputs.position[row], inputs.pad[row]) if not x}
        seen_out = {(int(m), int(p)) for m, p, x in zip(targets.modality[row], targets.position[row], targets.pad[row]) if not x}
        assert len(seen_in) == 40 and len(seen_out) == 24 and not seen_in & seen_out
        m, p = int(inputs.modality[row, 0]), int(inputs.position[row, 0])
        assert int(inputs.token[row, 0]) == int(batch.tokens[MODALITIES[m].name][row, p])
    assert not bool((reveal & targets.pad).any())


def test_masking_follows_dirichlet_concentration():
    """Small alpha puts most of a sample's budget on one modality; large alpha spreads it (4M's knob)."""
    gen = torch.Generator().manual_seed(1)
    batch = random_batch(200, gen)

    def top_share(alpha: float) -> float:
        inputs, _, _ = sample(batch, MaskingConfig(inputs=12, targets=8, alpha=alpha, task_fraction=0.0), gen)
        counts = torch.stack([(inputs.modality == i).sum(1) for i in range(len(MODALITIES))], 1).float()
        return float((counts.max(1).values / 12).mean())

    concentrated, spread = top_share(0.05), top_share(50.0)
    assert concentrated > 0.6 and spread < 0.45, (concentrated, spread)  # 2-token modalities cap the top share


def test_task_samples_condition_and_target_the_generation_task():
    gen = torch.Generator().manual_seed(2)
    inputs, targets, _ = sample(random_batch(16, gen), MaskingConfig(inputs=64, targets=32, task_fraction=1.0), gen)
    wanted = torch.tensor([MODALITY_ID[n] for n in TASK_TARGETS])
    assert bool(torch.isin(targets.modality[~targets.pad], wanted).all())
    hourly = (targets.modality == MODALITY_ID["t2m_hourly"]).sum(1)
    assert float((hourly == 2).float().mean()) > 0.9  # equal shares: the 2-token profile is (almost) always a target
    for name in ("s2l2a", "coords", "time"):
        assert bool((inputs.modality == MODALITY_ID[name]).any(1).all())
    with_gfs = (inputs.modality == MODALITY_ID["gfs"]).any(1)
    residual = (targets.modality == MODALITY_ID["t2m_residual"]).any(1)
    clim = (targets.modality == MODALITY_ID["t2m_residual_clim"]).any(1)
    assert bool(with_gfs.any() and (~with_gfs).any()) and torch.equal(residual, with_gfs)  # the residual needs GFS
    assert torch.equal(clim, ~with_gfs)  # the climate's residual: only without GFS among the inputs


def test_task_never_asks_a_residual_whose_base_is_not_given():
    """Over many task samples: `t2m_residual` (from the regression given GFS) is a target only with GFS among the
    inputs, `t2m_residual_clim` (without GFS) only without; with GFS absent from the data, never the former."""
    gen = torch.Generator().manual_seed(6)
    config = MaskingConfig(inputs=64, targets=32, task_fraction=1.0)
    for batch in (random_batch(128, gen), random_batch(64, gen, missing=("gfs",))):
        inputs, targets, _ = sample(batch, config, gen)
        with_gfs = (inputs.modality == MODALITY_ID["gfs"]).any(1, keepdim=True)
        live = ~targets.pad
        residual = live & (targets.modality == MODALITY_ID["t2m_residual"])
        clim = live & (targets.modality == MODALITY_ID["t2m_residual_clim"])
        assert not bool((residual & ~with_gfs).any()) and not bool((clim & with_gfs).any())
        assert bool(clim.any())  # the climate's residual is asked where GFS is not given
    assert not bool(with_gfs.any()) and not bool(residual.any())  # no GFS in the data: never t2m_residual


def test_shapes_and_shared_memory_attention():
    torch.manual_seed(0)
    model = MultiModalTransformer(SMALL).eval()
    gen = torch.Generator().manual_seed(3)
    inputs, targets, reveal = sample(random_batch(1, gen), MaskingConfig(inputs=30, targets=20, task_fraction=0.0), gen)
    memory = model.encode(inputs)
    assert memory.shape == (1, 30, 32)
    shared = model.decode(memory, inputs.pad, targets.repeat(3), reveal.repeat(3, 1))
    expanded = model.decode(memory.expand(3, -1, -1), inputs.pad.expand(3, -1), targets.repeat(3), reveal.repeat(3, 1))
    assert set(shared) and set(shared) == set(expanded)
    for name, (logits, where) in shared.items():
        m = MODALITIES[MODALITY_ID[name]]
        assert logits.shape == (len(where), sum(m.levels))
        torch.testing.assert_close(logits, expanded[name][0], atol=1e-5, rtol=1e-4)


def test_tiny_overfit_reduces_loss_per_modality():
    torch.manual_seed(0)
    model = MultiModalTransformer(SMALL)
    gen = torch.Generator().manual_seed(4)
    inputs, targets, reveal = sample(random_batch(8, gen), MaskingConfig(inputs=48, targets=32, task_fraction=0.5), gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        losses = model.losses(inputs, targets, reveal)
        first = first or {k: float(v) for k, v in losses.items()}
        loss = sum(losses.values()) / len(losses)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = model.losses(inputs, targets, reveal)
    assert set(first) == set(last) and len(first) >= 3
    assert sum(float(v) for v in last.values()) < 0.5 * sum(first.values())
    for name in first:
        assert float(last[name]) < first[name], name


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = MultiModalTransformer(SMALL).eval()
    save_model(model, tmp_path / "m.safetensors", {"preset": "test"})
    loaded, meta = load_model(tmp_path / "m.safetensors")
    assert meta["preset"] == "test" and loaded.config == SMALL
    gen = torch.Generator().manual_seed(5)
    inputs, targets, reveal = sample(random_batch(2, gen), MaskingConfig(inputs=20, targets=10), gen)
    a, b = model.losses(inputs, targets, reveal), loaded.losses(inputs, targets, reveal)
    for name in a:
        assert abs(float(a[name]) - float(b[name])) < 1e-2  # float16 weights


def test_time_is_continuous_and_periodic_not_a_table():
    """Days never seen in training get an embedding between their neighbours': no per-day table, and the features
    of adjacent days / hours (across the year's and the day's wrap too) are close, those of far ones are not."""
    model = MultiModalTransformer(SMALL)
    assert len(model.digit_embed[MODALITY_ID["time"]]) == 0
    doy = HOURS + torch.tensor([0, 1, 182, 365])  # 1 Jan, 2 Jan, 2 Jul, 31 Dec
    f = time_features(doy)
    assert float((f[0] - f[1]).norm()) < 0.1 and float((f[0] - f[3]).norm()) < 0.1 and float((f[0] - f[2]).norm()) > 1
    h = time_features(torch.tensor([0, 23, 12]))
    assert float((h[0] - h[1]).norm()) < 0.6 < float((h[0] - h[2]).norm())
    assert bool((h[:, h.shape[1] // 2:] == 0).all()) and bool((f[:, : f.shape[1] // 2] == 0).all())


def test_coordinates_are_continuous_not_a_table():
    """A place outside the training world (a real tile in Ontario) gets an embedding from its latitude and
    longitude, not an untrained table entry: nearby places have nearby features, longitude wraps at 180."""
    from tm_weather.model.transformer import coord_features
    from tm_weather.tokenizers import coords

    model = MultiModalTransformer(SMALL)
    assert len(model.digit_embed[MODALITY_ID["coords"]]) == 0
    tok = coords.encode(torch.tensor([54.75, 55.0, -3.5, 0.0, 0.0]), torch.tensor([-84.0, -84.0, 34.0, 179.75, -180.0]))
    lat, lon = coord_features(tok[:, 0]), coord_features(tok[:, 1])
    assert float((lat[0] - lat[1]).norm()) < 0.05 < 1 < float((lat[0] - lat[2]).norm())
    assert float((lon[3] - lon[4]).norm()) < 0.05  # 179.75 E next to 180 W
    assert bool((lat[:, lat.shape[1] // 2:] == 0).all()) and bool((lon[:, : lon.shape[1] // 2] == 0).all())
