"""Optimization plans: grid sets, walk-forward windows, ranking."""
