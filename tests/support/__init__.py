"""Helpers shared by the whole test suite (one rule in one place)."""
