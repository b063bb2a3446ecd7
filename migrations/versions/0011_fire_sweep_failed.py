"""sweep_run.failed: tasks a sweep set aside; indexes that only slowed the sweep's writes dropped

A task whose rung cannot be rendered or written no longer stops the sweep: it is set aside for an hour
(careflow.sweep_guard), and the sweep records how many it set aside, for the manager dashboard.

Every rung the sweep fires updates its task's ``next_rung_at`` (indexed, so never a HOT update: a new entry in
every index of ``agency_task``), and inserts an escalation and audit events. Four indexes were only written, never
needed: ``ix_agency_task_unit_code`` and ``ix_agency_task_pathway_run_id`` (each the first column of another index:
``ix_agency_task_unit_requested``, ``uq_task_step_attempt``), ``ix_escalation_task_id`` (``uq_escalation_task_rung``
starts with it) and ``ix_audit_event_action`` (every query by action also names the indexed entity or case).

Revision ID: 0011_fire
Revises: 0011_search
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op


revision = '0011_fire'
down_revision = '0011_search'
branch_labels = None
depends_on = None

_REDUNDANT = [('agency_task', 'ix_agency_task_unit_code'), ('agency_task', 'ix_agency_task_pathway_run_id'),
              ('escalation', 'ix_escalation_task_id'), ('audit_event', 'ix_audit_event_action')]
_COLUMNS = ['unit_code', 'pathway_run_id', 'task_id', 'action']


def upgrade() -> None:
    with op.batch_alter_table('sweep_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed', sa.Integer(), nullable=False, server_default='0'))
    for table, index in _REDUNDANT:
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for table, index, column in reversed([(t, i, c) for (t, i), c in zip(_REDUNDANT, _COLUMNS)]):
        op.create_index(index, table, [column], unique=False)
    with op.batch_alter_table('sweep_run', schema=None) as batch_op:
        batch_op.drop_column('failed')
