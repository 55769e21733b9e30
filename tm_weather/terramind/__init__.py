"""TerraMind itself as the image side of the weather model (the optional `terramind` extra, docs/terramind.md).

- `registry`: TerraMind's code from terratorch, imported lazily and without the rest of terratorch;
- `tokenizers`: TerraMind's S-2 L2A, DEM, NDVI and LULC tokenizers with TerraMind's standardisation;
- `model`: TerraMind's encoder (`terramind_v1_tiny` / `_base`) with the weather modalities added as new ones, its
  checkpoints, and the strict loading of a local TerraMind checkpoint;
- `train`: `tm-weather train --backbone terramind-tiny|base`; `generate`: `tm-weather generate` on its checkpoints.

Nothing here imports terratorch at import time: the base package works without the extra.
"""
