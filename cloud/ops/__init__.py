"""What the ops API reads and does: fleet views, alarms, telemetry series, uptime.

Queries only; the HTTP shape is `cloud.api.ops`. Fleet lists and counts use the health the
monitor stored (at most one monitor interval old, so a list of 200,000 stations is one
indexed query); a single station's page judges it live.
"""
