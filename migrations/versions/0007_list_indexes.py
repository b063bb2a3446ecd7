"""indexes for lists at provincial scale: the inbox, a unit's tasks by time, children by county, cases by date

Every list of the web app and the API is paginated by keyset (``web/paging.py``); each needs an index that yields
its rows in its order from the cursor on:

* ``ix_agency_task_open_unit_due``: a unit's *open* tasks by deadline (partial: open tasks are a fraction of all
  tasks, and the officer inbox reads only them), ``(unit_code, due_at, id)``;
* ``ix_agency_task_unit_requested``: a unit's tasks newest first (answered tasks, the "newest" order);
* ``ix_child_county_created``: a county's children newest first;
* ``ix_child_area_created``: a township's or village's children (a range of area codes), then by time;
* ``ix_case_opened_at_id``: cases newest first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('requested', 'acknowledged', 'in_progress')")


def upgrade() -> None:
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.create_index('ix_agency_task_open_unit_due', ['unit_code', 'due_at', 'id'], unique=False,
                              postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_agency_task_unit_requested', ['unit_code', 'requested_at', 'id'], unique=False)
    with op.batch_alter_table('child', schema=None) as batch_op:
        batch_op.create_index('ix_child_county_created', ['residence_county_code', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_child_area_created', ['residence_area_code', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_opened_at_id', ['opened_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_opened_at_id')
    with op.batch_alter_table('child', schema=None) as batch_op:
        batch_op.drop_index('ix_child_area_created')
        batch_op.drop_index('ix_child_county_created')
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.drop_index('ix_agency_task_unit_requested')
        batch_op.drop_index('ix_agency_task_open_unit_due')
