"""How targets become fills: the one simulation kernel."""
