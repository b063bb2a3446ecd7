"""Alembic environment: the target is every careflow table on ``SQLModel.metadata``."""
import warnings

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers every table)
from core.db import get_engine

config = context.config
target_metadata = SQLModel.metadata

# A batch migration on SQLite reflects the tables it copies and those their foreign keys name; SQLite's reflection
# cannot read an expression index (ix_child_township_created) and warns, though no batch copies ``child``: the
# warning was the first line a new user saw of ``careflow init`` / ``./run up``.
warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index",
                        category=sa.exc.SAWarning)


def run_migrations_online() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # batch migrations copy tables; foreign-key checks would refuse dropping the old copy
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # end the implicit transaction, or the migration would be rolled back
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
