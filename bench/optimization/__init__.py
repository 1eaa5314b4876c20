"""`python -m bench optimization`: `run` measures, `report` writes bench/results/optimization.*."""
