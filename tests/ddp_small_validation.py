"""`python -m tm_weather.jobs.ddp` with the demo preset's validation made small (`model_support.small_validation`),
for the DDP test: run as `python -m ddp_small_validation ARGS` with this folder on PYTHONPATH, so that the process
Lightning starts for the other rank (the same command again) makes the same change."""

import tm_weather.train
from model_support import small_validation
from tm_weather.jobs import ddp

if __name__ == "__main__":
    tm_weather.train.PRESETS["demo"] = small_validation(tm_weather.train.PRESETS["demo"])
    ddp.main()
