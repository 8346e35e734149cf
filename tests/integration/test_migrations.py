"""Migrations from an empty database give exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from orchestrator.db import make_sync_engine
from orchestrator.migrate import alembic_config
from orchestrator.models import Base


def _diff(url: str) -> list[object]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def test_migrated_schema_matches_models(database_url):
    assert _diff(database_url) == []


def test_downgrade_to_empty_and_up_again(database_url):
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "base")
    engine = make_sync_engine(database_url)
    with engine.connect() as conn:
        tables = set(engine.dialect.get_table_names(conn)) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    command.upgrade(cfg, "head")
    assert _diff(database_url) == []
