"""Unattended jobs: the scheduled daily job (`daily`, its run log `runlog`) and scale-out on dask.distributed
and Lightning DDP (`cluster`, `ddp`)."""
