"""pathway_run: restart count, last failure, down since; partial index of open runs

The sweeper restarts a pathway run whose flow run crashed, failed or stopped reporting as a new flow run
(``restart_count``; ``last_failure`` says why the last one ended; ``down_since`` is when the pathway was found
without a live flow run, shown on the dashboard; ``flow_process`` the host and pid running its flow, so that a sweeper
on the same host sees a killed one at once). Its candidates are the open runs (starting, running): a partial
index keeps that scan to the open ones however many pathways have ended.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

import models.base
import models.case


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('starting', 'running')")


def upgrade() -> None:
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restart_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_failure', models.case.ClippedString(length=500), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('down_since', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('flow_process', sa.String(length=120), nullable=False, server_default=''))
    op.create_index('ix_pathway_run_open', 'pathway_run', ['id'], unique=False,
                    postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade() -> None:
    op.drop_index('ix_pathway_run_open', table_name='pathway_run', postgresql_where=_OPEN, sqlite_where=_OPEN)
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.drop_column('flow_process')
        batch_op.drop_column('down_since')
        batch_op.drop_column('last_failure')
        batch_op.drop_column('restart_count')
