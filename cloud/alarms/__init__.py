"""Station alarms: rules with thresholds, durations and hysteresis, their raised → cleared →
acknowledged lifecycle, and the health level they give a station.

Two sources feed one table: the edge's own alarm and door events (applied by ingest as they
are stored) and the cloud's rules over the newest heartbeat and the station's liveness
(applied by `monitor`, on a timer, because a duration can run out while nothing arrives).
"""
