"""`tm-weather tokenizers train|eval`: a (shortened) training run writes a checkpoint and a model card whose
hash and metrics `eval` then checks and prints; the shipped hourly checkpoint meets the issue's bound, at every
level over 200..330 K too, and is the one the shipped transformer's tokens come from."""

from dataclasses import replace

import pytest
import yaml

from model_support import one_thread  # noqa: F401  (fixture: one torch thread)
from tm_weather import cli
from tm_weather.errors import EXIT_INPUT, EXIT_OK
from tm_weather.tokenizers import registry
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, MODALITIES, sha256
from tm_weather.tokenizers.train import TrainConfig


def test_eval_prints_the_shipped_hourly_quality_at_every_level(capsys):
    assert cli.main(["tokenizers", "eval", "--modality", "t2m_hourly"]) == EXIT_OK
    header, row, sweep = capsys.readouterr().out.strip().splitlines()
    assert header.split()[:3] == ["modality", "tokens", "codes"]
    cells = row.split()
    assert cells[:5] == ["t2m_hourly", "2", "8-8-8-6-5", "RMSE", "K"]
    now, card = float(cells[5]), float(cells[6])
    assert now == pytest.approx(card, abs=1e-3)  # the card's number is reproduced from the checkpoint
    assert now <= 0.25  # the bound: held-out RMSE <= 0.25 K at 2 tokens per 24 h
    # ... and with the held-out days moved to other climates' daily means, 200..330 K (the card's numbers too)
    metrics = yaml.safe_load((CHECKPOINT_DIR / "t2m_hourly.yaml").read_text())["metrics"]["rmse_k_in_band"]
    printed = dict(zip(sweep.split(": ")[1].split()[::2], map(float, sweep.split(": ")[1].split()[1::2])))
    assert printed == {band: pytest.approx(v, abs=1e-3) for band, v in metrics.items()}
    assert list(printed) == ["200-226", "226-252", "252-278", "278-304", "304-330"] and max(printed.values()) <= 0.25


def test_the_transformer_decodes_with_the_benchmarked_tokenizers():
    from tm_weather.model import DEFAULT_CHECKPOINT
    from tm_weather.model.data import TOKENIZER_OF

    model_card = yaml.safe_load(DEFAULT_CHECKPOINT.with_suffix(".yaml").read_text())
    for name in set(TOKENIZER_OF.values()):  # every tokenizer the model uses has one card, in the one folder
        assert model_card["tokenizers"][name] == yaml.safe_load((CHECKPOINT_DIR / f"{name}.yaml").read_text())["sha256"]


def test_train_then_eval_round_trip(tmp_path, monkeypatch, capsys):
    daily = MODALITIES["t2m_daily"]
    quick = replace(daily.presets["demo"], train=TrainConfig(steps=40, batch=64, lr=3e-3))
    monkeypatch.setitem(registry.MODALITIES, "t2m_daily", replace(daily, presets={"demo": quick}))
    assert cli.main(["tokenizers", "train", "--modality", "t2m_daily", "--preset", "demo", "--out", str(tmp_path)]) == 0
    card = yaml.safe_load((tmp_path / "t2m_daily.yaml").read_text())
    assert card["sha256"] == sha256(tmp_path / "t2m_daily.safetensors")
    assert card["command"] == f"tm-weather tokenizers train --modality t2m_daily --preset demo --out {tmp_path}"
    assert card["config"]["tokens"] == 4 and card["metrics"]["test_windows"] == 196
    assert 0 < card["metrics"]["rmse_k"] < 20
    capsys.readouterr()
    assert cli.main(["tokenizers", "eval", "--dir", str(tmp_path)]) == EXIT_OK
    row = capsys.readouterr().out.strip().splitlines()[1].split()
    assert row[0] == "t2m_daily" and float(row[5]) == pytest.approx(card["metrics"]["rmse_k"], abs=1e-3)

    (tmp_path / "t2m_daily.safetensors").write_bytes(b"tampered")
    assert cli.main(["tokenizers", "eval", "--dir", str(tmp_path)]) == EXIT_INPUT
    assert "sha256" in capsys.readouterr().err


def test_unknown_modality_is_a_usage_error():
    with pytest.raises(SystemExit) as e:
        cli.main(["tokenizers", "train", "--modality", "rainfall"])
    assert e.value.code == 2


def test_every_shipped_checkpoint_has_a_complete_card():
    cards = sorted(CHECKPOINT_DIR.glob("*.yaml"))
    assert {c.stem for c in cards} >= {"t2m_hourly", "t2m_hourly_1tok", "t2m_hourly_4tok"}
    total = 0
    for path in cards:
        card = yaml.safe_load(path.read_text())
        assert {"data", "command", "metrics", "sha256", "config", "train"} <= set(card)
        assert card["sha256"] == sha256(path.parent / card["checkpoint"])
        total += (path.parent / card["checkpoint"]).stat().st_size
    assert total < 8 * 2**20  # all shipped checkpoints together stay small (they live in git history)
