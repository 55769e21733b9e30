"""The shared multimodal transformer: model, correlation-learning masks, data and generation."""

from tm_weather.shipped import CHECKPOINT_DIR  # the shipped checkpoints (re-exported)

#: The shipped checkpoint `tm-weather generate` uses by default (`tm-weather train --preset full`).
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "transformer-full.safetensors"

#: The most ensemble members one `generate` call makes (they are one batch: memory grows with them, about 1 MB
#: each beside the model; 10,000 took 8.8 GB), and the most decoding steps (one field token per step at most).
MAX_MEMBERS = 256
MAX_STEPS = 196
