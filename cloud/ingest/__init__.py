"""MQTT ingest: message handling without MQTT (`ingestor`) and the paho worker around it
(`subscriber`)."""
