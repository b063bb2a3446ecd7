"""holiday_arrangement: each year's official holiday arrangement; partial index of open provisional tasks

``holiday_arrangement`` holds the State Council's yearly arrangement as loaded by ``careflow calendar load``
(one row per year, its source, days off and adjusted working days), the first source of truth of the working-day
calendar. ``ix_agency_task_provisional_open`` holds only the open tasks whose deadline is provisional, by
(due_at, id): loading a year's arrangement pages through them to recompute their deadlines without reading the
other open tasks.

Revision ID: 0011_calendar
Revises: 0010
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

import models.base


revision = '0011_calendar'
down_revision = '0010'
branch_labels = None
depends_on = None

PROVISIONAL_OPEN = sa.text("due_provisional AND state IN ('requested', 'acknowledged', 'in_progress')")


def upgrade() -> None:
    op.create_table(
        'holiday_arrangement',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('source', sa.String(length=300), nullable=False),
        sa.Column('note', sa.String(length=300), nullable=False),
        sa.Column('holidays', sa.JSON(), nullable=False),
        sa.Column('working_days', sa.JSON(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('loaded_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('loaded_by', sa.String(length=64), nullable=False),
        sa.Column('recomputed_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('year', name='pk_holiday_arrangement'),
    )
    op.create_index('ix_agency_task_provisional_open', 'agency_task', ['due_at', 'id'], unique=False,
                    postgresql_where=PROVISIONAL_OPEN, sqlite_where=PROVISIONAL_OPEN)


def downgrade() -> None:
    op.drop_index('ix_agency_task_provisional_open', table_name='agency_task')
    op.drop_table('holiday_arrangement')
