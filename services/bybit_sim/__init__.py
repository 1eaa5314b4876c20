"""An offline, deterministic stand-in for Bybit's public V5 market data API (REST + WebSocket)."""
