"""Periodic jobs `cloud maintain` runs: the hourly footfall roll-up and data retention."""
