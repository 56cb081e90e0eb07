"""Uplink stage: the journal drained over MQTT with birth, death and cloud acks."""
