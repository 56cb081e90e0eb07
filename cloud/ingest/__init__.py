"""MQTT ingest: message handling without MQTT (`ingestor` → `writer`) and the paho worker
around it (`subscriber`)."""
