"""Submissions over AMQP beside POST /backtests."""
