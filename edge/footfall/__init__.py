"""Footfall on the device: counters turn camera frames or beam breaks into `Crossing`s, the
aggregator turns crossings into per-interval counts journaled for `ws/v1/{sid}/footfall`.

No image ever leaves this package: counters keep frames in memory only.
"""
