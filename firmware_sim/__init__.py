"""Simulated station hardware and members, for tests, demos and load runs."""
