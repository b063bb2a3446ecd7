"""Alembic environment: the target is every careflow table on ``SQLModel.metadata``."""
from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables)
from careflow.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
