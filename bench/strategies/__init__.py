"""The strategies benchmark: expression strategies against the built-ins and vectorbt."""
