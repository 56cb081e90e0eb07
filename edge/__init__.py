"""The station agent: camera → decode → verify → door → journal → MQTT link."""

AGENT_VERSION = "0.1.0"
