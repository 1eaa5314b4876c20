"""`python -m bench robustness`: `run` measures, `report` writes bench/results/robustness.*."""
