"""Bulk writing on both backends: COPY through psycopg on PostgreSQL, ``executemany`` on SQLite.

Both run inside the caller's transaction (the connection's), so a bulk write commits or rolls back with the rest.
"""
from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import sqlalchemy as sa


def is_postgresql(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def driver_connection(conn: sa.Connection):
    """The DBAPI connection under ``conn`` (psycopg or sqlite3), inside the same transaction."""
    return conn.connection.driver_connection


def _pg_value(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _sqlite_value(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: careflow stores only timezone-aware times")
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def bulk_insert(conn: sa.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns how many.

    Values are Python values as the ORM would write them: UUIDs, aware datetimes (stored as UTC), dates, bools,
    dicts/lists for JSON columns, str enums. Fast: COPY on PostgreSQL, one ``executemany`` on SQLite.
    """
    count = 0
    raw = driver_connection(conn)
    names = ", ".join(f'"{c}"' for c in columns)
    if is_postgresql(conn):
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([_pg_value(v) for v in row])
                count += 1
        return count
    batch: list[tuple] = []
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    cursor = raw.cursor()
    try:
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= 20000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    finally:
        cursor.close()
    return count


def uuid_text_sql(conn: sa.Connection, column: str) -> str:
    """SQL giving ``column`` (a UUID column) as ``str(uuid)`` gives it: lower-case with dashes."""
    if is_postgresql(conn):
        return f"CAST({column} AS TEXT)"
    return (f"(substr({column},1,8)||'-'||substr({column},9,4)||'-'||substr({column},13,4)||'-'||"
            f"substr({column},17,4)||'-'||substr({column},21,12))")


def new_uuid_sql(conn: sa.Connection) -> str:
    """SQL making a new random UUID value for a UUID column (version 4 on PostgreSQL; 128 random bits on SQLite,
    stored as SQLAlchemy stores UUIDs there: 32 lower-case hex digits)."""
    return "gen_random_uuid()" if is_postgresql(conn) else "lower(hex(randomblob(16)))"


def json_sql(conn: sa.Connection, expression: str) -> str:
    """``expression`` (JSON text) as a value for a JSON column."""
    return f"CAST({expression} AS JSON)" if is_postgresql(conn) else expression
