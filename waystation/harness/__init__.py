"""Test and benchmark harnesses built on the whole system: the chaos run (fault plans, their
player, chaos stations, the ingest pool) and its no-loss audit, link-only stations, and the
liveness rig. They sit above the libraries and the simulator and start real processes
(Mosquitto, `waystation cloud ingest`)."""
