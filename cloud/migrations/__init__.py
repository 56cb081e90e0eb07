"""Alembic migrations of the cloud schema; `cloud.migrate.upgrade` runs them to head."""
