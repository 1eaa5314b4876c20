"""Bayesian search benchmark: a 200-trial search on two engine workers."""
