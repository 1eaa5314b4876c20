"""`python -m bench api`: `run` measures, `report` writes bench/results/api.*, `result` is what
both read, `load_generator` runs in a process of its own."""
