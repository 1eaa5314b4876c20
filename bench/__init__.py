"""Benchmarks of the platform, run with `make bench` or `python -m bench [NAME ...]`.

Each benchmark measures and reports; none asserts a speed. Results go to `bench/results/`.
One package per benchmark, `bench/NAME/`: `run` measures, `report` writes the results, `result`
(where both need it) is what they share; `bench/support/` holds what several benchmarks use.
Imports go one way: `__main__` -> `NAME.run` -> `NAME.report` -> `NAME.result`, all of them ->
`support`, `devtools` (the launcher, waiting), `services`, `shared`.
"""
