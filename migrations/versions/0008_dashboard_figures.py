"""dashboard figures table; indexes for the dashboard's reads and streamed exports

The manager dashboard read every task of its jurisdiction into Python (365 s for a county at 1,000,000 open
tasks). Its figures are now computed set-based into ``dashboard_figure`` (one row per scope, kind and key) and
read from there; the live parts (latest escalations and pathways, the export's oldest-first walk, the
response-time window) read through the indexes below.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dashboard_figure',
        sa.Column('scope_code', sa.String(length=12), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('open', sa.Integer(), nullable=False),
        sa.Column('overdue', sa.Integer(), nullable=False),
        sa.Column('escalated', sa.Integer(), nullable=False),
        sa.Column('completed', sa.Integer(), nullable=False),
        sa.Column('completed_on_time', sa.Integer(), nullable=False),
        sa.Column('due', sa.Integer(), nullable=False),
        sa.Column('median_ack_hours', sa.Float(), nullable=True),
        sa.Column('median_complete_hours', sa.Float(), nullable=True),
        sa.Column('window_days', sa.Integer(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('computed_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('scope_code', 'kind', 'key', name='pk_dashboard_figure'),
    )
    completed = sa.text("state = 'completed'")
    acknowledged = sa.text("acknowledged_at IS NOT NULL")
    op.create_index('ix_agency_task_completed_answered_at', 'agency_task', ['answered_at'],
                    postgresql_where=completed, sqlite_where=completed)
    op.create_index('ix_agency_task_acknowledged_at', 'agency_task', ['acknowledged_at'],
                    postgresql_where=acknowledged, sqlite_where=acknowledged)
    op.create_index('ix_agency_task_requested_at', 'agency_task', ['requested_at', 'id'])
    op.create_index('ix_escalation_fired_at', 'escalation', ['fired_at', 'id'])
    op.create_index('ix_pathway_run_started_at', 'pathway_run', ['started_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_pathway_run_started_at', table_name='pathway_run')
    op.drop_index('ix_escalation_fired_at', table_name='escalation')
    op.drop_index('ix_agency_task_requested_at', table_name='agency_task')
    op.drop_index('ix_agency_task_acknowledged_at', table_name='agency_task')
    op.drop_index('ix_agency_task_completed_answered_at', table_name='agency_task')
    op.drop_table('dashboard_figure')
