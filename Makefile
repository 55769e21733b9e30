# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test terramind bench experiments clean-venv

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	# pyproj before eccodes in every interpreter of the venv, not only under `import tm_weather` (its docstring
	# says why): a user's plain `xr.open_dataset` loads xarray's cfgrib backend (eccodes) before rioxarray's
	# (pyproj) and the interpreter crashes at exit. tests/test_imports.py checks it.
	$(VENV)/bin/python -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], '00-tm-weather-pyproj-first.pth').write_text('import pyproj\n')"
	touch $(STAMP)

# The optional TerraMind extra (docs/terramind.md), not needed by `make demo` / `make test`: terratorch and only
# what TerraMind's tokenizers and backbone import, pinned in requirements-terramind.txt and installed --no-deps
# (pip never resolves torch again, and terratorch's own long list, torchvision included, stays out). Offline: the
# packages come from the index, no model hub is touched. Then `make test` runs tests/test_terramind.py too.
terramind: $(VENV)/.terramind

$(VENV)/.terramind: $(STAMP) requirements-terramind.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-terramind.txt
	touch $@

demo: $(STAMP)
	$(VENV)/bin/tm-weather demo

test: $(STAMP)
	$(VENV)/bin/ruff check tm_weather tests benchmarks experiments
	$(VENV)/bin/python -m pytest -q -m "not network"

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/ingest.py
	$(VENV)/bin/python benchmarks/tokenizers.py
	$(VENV)/bin/python benchmarks/generation.py
	$(VENV)/bin/python benchmarks/area.py

# issue 6's experiments on the full world (10-26 min each here) and issue 13's world of other physics (about
# 25 min); tables and figures in experiments/results/
experiments: $(STAMP)
	$(VENV)/bin/python experiments/tokenizer_study.py
	$(VENV)/bin/python experiments/causality.py --every 6
	$(VENV)/bin/python experiments/tim.py --every 12
	$(VENV)/bin/python experiments/other_physics.py --out runs/other-physics

clean-venv:
	rm -rf $(VENV)
