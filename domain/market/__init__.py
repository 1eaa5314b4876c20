"""Candles and what is known of a market: intervals, perpetual mark prices and funding."""
