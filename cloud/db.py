"""Schema creation (every table module is imported here) and, for callers' convenience, the
engine (`cloud.engine`) and sessions (`cloud.transaction`); SQLite for the demo, PostgreSQL
in production. A library module that needs only an engine imports `cloud.engine`."""

from __future__ import annotations

from sqlalchemy import Engine, Table
from sqlmodel import SQLModel

from cloud import models
from cloud.alarms import models as alarm_models
from cloud.alarms import thresholds as alarm_thresholds
from cloud.auth import models as auth_models
from cloud.commands import models as command_models
from cloud.credentials import apiclients
from cloud.credentials import models as credential_models
from cloud.engine import make_engine as make_engine  # where most callers look for it
from cloud.feedback import models as feedback_models
from cloud.notify import models as notify_models
from cloud.stations import desired_config, holidays, maintenance
from cloud.transaction import session as session  # where every caller looks for it


def init_db(engine: Engine) -> None:
    """Migrate the schema to head (Alembic, `cloud/migrations`); safe on every start and when
    several processes start at once (see `cloud.migrate`).

    Table models that no migration creates yet (a feature in development) are then created
    plainly, so they work before their migration is written; their migration must tolerate
    finding the table already there in such development databases.
    """
    from cloud import migrate

    migrate.upgrade(engine, also_create=_unmigrated())


def migrated_tables() -> list[Table]:
    """Every table the Alembic migrations create; a feature adds its `TABLES` here."""
    return [
        *models.TABLES,
        *credential_models.TABLES,
        *alarm_models.TABLES,
        *alarm_thresholds.TABLES,
        *auth_models.TABLES,
        *command_models.TABLES,
        *feedback_models.TABLES,
        *holidays.TABLES,
        *desired_config.TABLES,
        *apiclients.TABLES,
        *notify_models.TABLES,
        *maintenance.TABLES,
    ]


def _unmigrated() -> list[Table]:
    migrated = {t.name for t in migrated_tables()}
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in migrated]
