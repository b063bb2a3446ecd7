"""Set-based writes of many rows in a few statements, for the deadline sweep's batches.

On PostgreSQL a batch travels as one JSON array, turned into rows of the table's own type by
``json_populate_recordset``: one short statement and one parameter whatever the number of rows, so neither
the server nor psycopg parses thousands of placeholders (SQLAlchemy's multi-row ``VALUES`` cost psycopg
~0.3 ms of CPU per row to split the query text), encoding is ``json.dumps`` (C), and no 65,535-parameter
limit applies.
On SQLite the same calls run as ``executemany`` (in-process: no round trips to save).
"""
from __future__ import annotations

import enum
import json
import os
import re
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one ``os.urandom`` call (``uuid.uuid4()`` makes one system call each)."""
    raw = os.urandom(16 * count)
    return [uuid.UUID(bytes=raw[i:i + 16], version=4) for i in range(0, 16 * count, 16)]


def _json_default(value):
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: careflow stores only timezone-aware times")
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (uuid.UUID, date)):
        return str(value)
    raise TypeError(f"cannot store {value!r} ({type(value).__name__}) in bulk")


def _records(rows: list[dict]) -> str:
    """The rows as one JSON array, for ``json_populate_recordset``: times ISO 8601 with their offset, UUIDs
    and enums as their text; JSON columns stay nested JSON."""
    return json.dumps(rows, default=_json_default, ensure_ascii=False)


def insert_rows(session: Session, table: sa.Table, rows: list[dict], *, conflict: list[str] | None = None,
                returning: list[str] | None = None) -> list[sa.Row]:
    """Insert ``rows`` (dicts with the same keys, column names of ``table``) in bulk, in the caller's transaction.

    Args:
        conflict: columns of a unique index: rows clashing with it are skipped (``ON CONFLICT DO NOTHING``);
            concurrent writers of the same key: exactly one inserts it.
        returning: columns to return for the rows actually inserted (``[]`` returned when None).

    PostgreSQL: one ``INSERT … SELECT … FROM json_populate_recordset(…)``. SQLite: SQLAlchemy's bulk insert
    (executemany), 1,000 rows per statement.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        # start-up: SQLite's dialect (~30 ms) only on SQLite; every flow-run process imports this module (core.audit)
        from sqlalchemy.dialects.sqlite import insert

        statement = insert(table)
        if conflict:
            statement = statement.on_conflict_do_nothing(index_elements=conflict)
        if returning:
            statement = statement.returning(*[table.c[name] for name in returning])
        inserted: list[sa.Row] = []
        for first in range(0, len(rows), 1000):
            result = session.execute(statement, rows[first:first + 1000])
            if returning:
                inserted.extend(result.all())
        return inserted
    names = list(rows[0])
    defaults = [c for c in table.c if c.name not in names and c.default is not None
                and (c.default.is_scalar or c.default.is_callable)]
    if defaults:  # Python-side column defaults, as SQLAlchemy's own insert would apply them
        rows = [{**row, **{c.name: c.default.arg if c.default.is_scalar else c.default.arg(None) for c in defaults}}
                for row in rows]
        names += [c.name for c in defaults]
    columns = ", ".join(f'"{name}"' for name in names)
    sql = (f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} '
           f'FROM json_populate_recordset(NULL::"{table.name}", CAST(:rows AS json))')
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    statement = sa.text(sql)
    if returning:
        statement = sa.text(f"{sql} RETURNING {', '.join(returning)}").columns(
            *[sa.column(name, table.c[name].type) for name in returning])
    result = session.execute(statement, {"rows": _records(rows)})
    return result.all() if returning else []


def update_rows(session: Session, table: sa.Table, rows: list[dict], *, key: str, assignments: dict[str, str],
                where: str = "") -> int:
    """Update many rows of ``table`` by ``key``, each with its own values, in one statement (PostgreSQL:
    ``UPDATE … FROM json_populate_recordset(…)``; SQLite: ``executemany``).

    Args:
        rows: dicts with ``key`` and the value columns (column names of ``table``).
        assignments: column → SQL expression over ``t.<column>`` (the row) and ``v.<column>`` (its new value),
            e.g. ``{"escalation_level": "max(t.escalation_level, v.escalation_level)"}``; ``max`` is written
            ``greatest`` on PostgreSQL.
        where: an extra condition over ``t`` and ``v`` (e.g. update only rows whose value changes, so that
            an unchanged row costs no new row version and no index entries).

    Returns:
        the number of rows updated (a row that ``where`` excludes is not counted).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    names = list(rows[0])
    if dialect == "postgresql":
        sets = ", ".join(f'"{column}" = {expression.replace("max(", "greatest(")}'
                         for column, expression in assignments.items())
        sql = (f'UPDATE "{table.name}" AS t SET {sets} '
               f'FROM json_populate_recordset(NULL::"{table.name}", CAST(:rows AS json)) AS v WHERE t.{key} = v.{key}')
        if where:
            sql += f" AND ({where.replace('max(', 'greatest(')})"
        return session.execute(sa.text(sql), {"rows": _records(rows)}).rowcount
    # SQLite: v.<column> is a bound parameter of each row (through the column's own conversion), t.<column> the row
    sql = f'UPDATE "{table.name}" SET ' + ", ".join(f"{column} = {expression}" for column, expression in assignments.items())
    sql += f" WHERE t.{key} = v.{key}" + (f" AND ({where})" if where else "")
    sql = re.sub(r"\bv\.(\w+)", r":v_\1", re.sub(r"\bt\.", f'"{table.name}".', sql)).replace(" IS DISTINCT FROM ", " IS NOT ")
    statement = sa.text(sql).bindparams(*[sa.bindparam(f"v_{name}", type_=table.c[name].type) for name in names])
    return session.execute(statement, [{f"v_{name}": row[name] for name in names} for row in rows]).rowcount
