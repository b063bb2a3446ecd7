"""The migrations build exactly the schema the models describe, on each backend."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models.tables  # noqa: F401
from core.db import get_engine


def test_migrated_schema_matches_the_models(database_url):
    with get_engine(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
