"""Alarm notifications: routing rules send raises, clears, escalations and daily digests to
channels (a signed webhook, the 企业微信 / 钉钉 / 飞书 group robots, e-mail over SMTP).

The alarm writers (ingest, the monitor) know nothing of it: `poller` reads alarm changes
into an outbox of events and deliveries, `worker` sends them with retries, on the notifier
thread (`runner`) of the processes that host the health monitor.
"""
