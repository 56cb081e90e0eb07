"""Waystation cloud: MQTT ingest, station registry, liveness and the workers' public API."""
