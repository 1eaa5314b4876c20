"""Latency benchmark: a worker's cold start and one backtest end to end, in its parts."""
