"""Waystation wire contract v1: topics, payloads, the member credential, trust lists. No I/O."""
