"""child: no ix_child_area_created; a village's children are read through ix_child_township_created, which carries
the area code (PostgreSQL: ``INCLUDE (residence_area_code)``)

A village's code starts with its township's nine digits, so ``web.scope.child_in`` asks for a village by its
township (``substr(residence_area_code, 1, 9)``, the township index, newest first in index order) and filters by the
village's own code, read from the index entry: a page and a capped count of a village are index scans, the count
index-only. The area index could not give a village's page in time order (its condition is a range of codes: the
40,000 children of a village of the 1,000,000-row benchmark were read and sorted for a page of 50, 270-320 ms;
through the township index 0.2-0.4 ms), and every child a survey creates cost it an entry at one of a county's few
dozen insertion points, each split of a full page leaving half of it empty: inserting the benchmark's 1,000,000
children into a copy of ``child`` took 2.8-4.8 s more CPU with it; the area code carried by the township index costs
none measurable (issue 15). SQLite has no INCLUDE: its township index stays as it was.

The new township index is built under another name before the old one is dropped, so that lists keep an index while
it builds (CREATE INDEX blocks writes to ``child``, not reads).

Revision ID: 0024_child_area_index
Revises: 0023_send_now
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0024_child_area_index'
down_revision = '0023_send_now'
branch_labels = None
depends_on = None

_TOWNSHIP = [sa.text('substr(residence_area_code, 1, 9)'), 'created_at', 'id']


def _township_index(include: bool) -> None:
    """Rebuild ix_child_township_created on PostgreSQL, with or without the area code included."""
    op.create_index('ix_child_township_created_new', 'child', _TOWNSHIP,
                    postgresql_include=['residence_area_code'] if include else [])
    op.drop_index('ix_child_township_created', table_name='child')
    op.execute('ALTER INDEX ix_child_township_created_new RENAME TO ix_child_township_created')


def upgrade() -> None:
    op.drop_index('ix_child_area_created', table_name='child')
    if op.get_bind().dialect.name == "postgresql":
        _township_index(include=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _township_index(include=False)
    op.create_index('ix_child_area_created', 'child', ['residence_area_code', 'created_at', 'id'])
