"""The shared multimodal transformer: model, correlation-learning masks, data and generation."""

from pathlib import Path

#: Shipped transformer checkpoints and their model cards (top-level `checkpoints/`, beside `tokenizers/`).
CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "checkpoints"

#: The shipped checkpoint `tm-weather generate` uses by default (`tm-weather train --preset full`).
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "transformer-full.safetensors"

#: The shipped within-tile anomaly network (`tm_weather.model.anomaly`, `tm-weather train --part anomaly`).
DEFAULT_ANOMALY = CHECKPOINT_DIR / "anomaly-demo.safetensors"
