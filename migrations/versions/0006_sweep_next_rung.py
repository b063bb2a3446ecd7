"""set-based deadline sweep: agency_task.next_rung_at and its partial index, sweep_run, unsent-message index

``agency_task.next_rung_at`` is the time of a task's next escalation rung (NULL: not computed yet; the sweeper
computes those in batches). ``ix_agency_task_next_rung_open`` holds open tasks only, by (next_rung_at, id): the
sweep's due-selection (``next_rung_at <= now``, keyset by (next_rung_at, id)) is an index range scan whose cost is
the number of due tasks, not the number of open ones. ``ix_notification_unsent`` does the same for the outbox's
due-message scan (pending, failed or claimed messages by creation time). ``sweep_run`` records each sweep's figures.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OPEN = "state IN ('requested', 'acknowledged', 'in_progress')"
UNSENT = "status IN ('pending', 'failed', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_rung_at', models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_agency_task_next_rung_open', 'agency_task', ['next_rung_at', 'id'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_notification_unsent', 'notification', ['created_at', 'id'], unique=False,
                    postgresql_where=sa.text(UNSENT), sqlite_where=sa.text(UNSENT))
    op.create_table('sweep_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('fired', sa.Integer(), nullable=False),
    sa.Column('backlog', sa.Integer(), nullable=False),
    sa.Column('computed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name='pk_sweep_run')
    )
    op.create_index('ix_sweep_run_finished_at', 'sweep_run', ['finished_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sweep_run_finished_at', table_name='sweep_run')
    op.drop_table('sweep_run')
    op.drop_index('ix_notification_unsent', table_name='notification')
    op.drop_index('ix_agency_task_next_rung_open', table_name='agency_task')
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.drop_column('next_rung_at')
