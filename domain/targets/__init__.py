"""Strategies turned into target positions per bar: built-ins, expressions, plugins."""
