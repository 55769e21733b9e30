"""Verification of generated T2M against truth and baselines (issue 6).

- `prediction`: reads and checks a generated CF netCDF (`tm-weather generate`'s output);
- `truth`: truth adapters (store, GFS analysis, URMA/RTMA, ISD stations, the world's truth) on a tile;
- `baselines`: climatology, persistence, GFS interpolated (with and without lapse rate), linear regression on
  Sentinel-2 bands, and any other prediction file (the hook for the U-Net regression);
- `evaluate`: every metric (`tm_weather.metrics`) of every system with every breakdown, as one tidy table;
- `report`: the self-contained HTML report, metrics.csv and metrics.json.
"""
