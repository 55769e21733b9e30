"""Where the files shipped beside the package live: checkpoints, tokenizers, the embedded catalog and the real
fixtures the tokenizers and the world are grounded in. One place for every such path (no torch, no heavy
imports), so each is defined once.

They sit in the repository next to the package (`pip install -e .`, as the Makefile does); a wheel would carry
them as package data instead, and only this module would change.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root: the folder holding the `tm_weather` package.
ROOT = Path(__file__).resolve().parents[1]
#: Shipped transformer and regression checkpoints with their model cards.
CHECKPOINT_DIR = ROOT / "checkpoints"
#: Shipped tokenizer checkpoints with their model cards, one per tokenizer.
TOKENIZER_DIR = ROOT / "tokenizers"
#: The embedded default catalog of `tm-weather demo`: the real fixtures in tests/data.
DEFAULT_CATALOG = ROOT / "data_catalog.yaml"
#: The real fixtures (copied from ../shared/data; tests/data/PROVENANCE.md).
FIXTURES = ROOT / "tests" / "data"
