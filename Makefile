# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean-venv

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

clean-venv:
	rm -rf $(VENV)
