"""Benchmarks of the platform, run with `make bench` or `python -m bench [NAME ...]`.

Each benchmark measures and reports; none asserts a speed. Results go to `bench/results/`.
"""
