"""`python -m bench ingest`: `run` measures, `report` writes bench/results/ingest.*, `result` is
what both read; `setup` and `progress` prepare and follow the backfill jobs."""
