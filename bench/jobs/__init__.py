"""`python -m bench jobs`: `run` measures, `report` writes bench/results/jobs.*, `result` is what
both read; `progress` submits the backtests and follows them."""
