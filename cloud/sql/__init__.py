"""SQL the cloud writes the same way on SQLite and PostgreSQL: the dialect's bulk statements
(`dialect`, with `pgbulk`'s JSON-parameter statements on PostgreSQL) and column types
(`types`: UTC datetimes that come back aware on both)."""
