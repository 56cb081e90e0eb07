"""Ops commands to stations (`unlock`, `rebirth`, `sync`, `reboot`): recorded, published on
`ws/v1/{sid}/cmd/{name}`, and closed by the station's `cmd_result` (applied by ingest) or by
their expiry. DESIGN.md: a station refuses an expired or duplicate command itself."""
