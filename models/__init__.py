"""The system of record (SQLModel tables) and the pure rules that need no database.

Importing the package loads no table: each module defines its own, and :mod:`models.tables` imports them all
(for Alembic and the schema test).
"""
