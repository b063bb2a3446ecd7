"""child: the last digits of a resident ID by a btree on the reversed ID, instead of a pg_trgm GIN index

Searching a list by the end of an ID number (``00012344``) is a prefix of the reversed ID, which a plain btree
(``text_pattern_ops``) serves exactly, one entry per child. The trigram index it replaces held about 18 entries per
child and cost a first survey of 1,000,000 rows about 10 s of the database's time (measured with
``python -m benchmarks.survey``, issue 15). PostgreSQL only: SQLite has no ``reverse()`` and searches its (small)
lists by scanning; its plain index of the old name, a copy of the unique index, goes too.

Revision ID: 0016_id_tail
Revises: 0015_township
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_id_tail'
down_revision = '0015_township'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_child_resident_id_trgm', table_name='child')
    if op.get_bind().dialect.name == "postgresql":
        op.create_index('ix_child_resident_id_reversed', 'child', [sa.text('reverse(resident_id) text_pattern_ops')])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_child_resident_id_reversed', table_name='child')
    op.create_index('ix_child_resident_id_trgm', 'child', ['resident_id'], postgresql_using='gin',
                    postgresql_ops={'resident_id': 'gin_trgm_ops'})
