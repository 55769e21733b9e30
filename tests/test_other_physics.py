"""`experiments/other_physics.py`: its world generator's constants are changed inside the block only, every
override names a constant that exists (a renamed one fails here, not in a 25-minute run), and a world built under
them differs from the benchmark world where the physics says it should."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tm_weather.world import constants as C
from tm_weather.world.build import build_world
from tm_weather.world.presets import PRESETS

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "other_physics.py"


def load_script():
    spec = importlib.util.spec_from_file_location("other_physics", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_physics_overrides_exist_apply_inside_and_are_restored():
    script = load_script()
    before = {name: getattr(C, name) for name in script.OVERRIDES}
    assert all(script.OVERRIDES[n] != before[n] for n in before)  # each one changes something
    with script.physics(script.OVERRIDES):
        assert {name: getattr(C, name) for name in script.OVERRIDES} == script.OVERRIDES
    assert {name: getattr(C, name) for name in script.OVERRIDES} == before
    with pytest.raises(AttributeError):
        with script.physics({"NO_SUCH_CONSTANT": 1.0}):
            pass
    with pytest.raises(RuntimeError):
        with script.physics({"LAPSE_RATE": -0.01}):
            raise RuntimeError("a failed build")
    assert C.LAPSE_RATE == before["LAPSE_RATE"]  # restored after a failure too


def test_a_world_built_under_the_overrides_has_their_physics(tmp_path):
    """The generator reads the constants when it runs: the tiny world's cell noise and forest term inside the tile
    scale with the overrides (same seed: same landscape and land cover)."""
    script = load_script()
    plain = build_world(tmp_path / "plain", PRESETS["tiny"], 0).anomaly
    with script.physics({"CELL_NOISE_K": 2 * C.CELL_NOISE_K, "FOREST_DAY_K": 2 * C.FOREST_DAY_K,
                         "FOREST_NIGHT_K": 2 * C.FOREST_NIGHT_K}):
        other = build_world(tmp_path / "other", PRESETS["tiny"], 0).anomaly
    assert other.sd("noise") == pytest.approx(2 * plain.sd("noise"), rel=0.02)
    assert other.sd("forest") == pytest.approx(2 * plain.sd("forest"), rel=1e-6)
    assert other.sd("elevation") == pytest.approx(plain.sd("elevation"), rel=1e-6)


def test_a_folder_with_a_catalog_but_no_world_table_is_refused_untouched(tmp_path, monkeypatch, capsys):
    """An interrupted build (or another world) in `--out` is named and refused (exit 2), not rebuilt over nor
    crashed on, and nothing in it changes."""
    script = load_script()
    (tmp_path / script.CATALOG).write_text("tiles: []\n")
    monkeypatch.setattr("sys.argv", ["other_physics.py", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        script.main()
    assert exit_info.value.code == 2
    assert "holds a catalog but no world_table.txt" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [script.CATALOG]
    assert (tmp_path / script.CATALOG).read_text() == "tiles: []\n"
