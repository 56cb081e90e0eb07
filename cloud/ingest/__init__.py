"""MQTT ingest: pure message handling (`handlers`) and the paho worker around it (`subscriber`)."""
