"""Bybit klines into PostgreSQL: resumable REST backfills and live WebSocket streams."""
