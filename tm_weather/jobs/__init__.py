"""Workflows as library calls: the scheduled daily job (`daily`, its run log `runlog`), the demo (`demo`), the
benchmark world written whole (`world`), and scale-out on dask.distributed and Lightning DDP (`cluster`, `ddp`)."""
