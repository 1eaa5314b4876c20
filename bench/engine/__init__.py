"""`python -m bench engine`: `run` measures, `report` writes bench/results/engine.*."""
