# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench experiments clean-venv

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tm-weather demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not network"

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/ingest.py
	$(VENV)/bin/python benchmarks/tokenizers.py
	$(VENV)/bin/python benchmarks/generation.py

# issue 6's experiments on the demo world (each under 20 min here); tables and figures in experiments/results/
experiments: $(STAMP)
	$(VENV)/bin/python experiments/tokenizer_study.py
	$(VENV)/bin/python experiments/causality.py
	$(VENV)/bin/python experiments/tim.py

clean-venv:
	rm -rf $(VENV)
