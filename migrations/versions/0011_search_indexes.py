"""indexes for search and filters: trigram search on children, reference prefixes, open tasks by deadline

* ``ix_child_full_name_trgm``, ``ix_child_resident_id_trgm``: a part of a child's name (``LIKE '%…%'``) and the last
  digits of the resident ID (``LIKE '%…'``) through pg_trgm GIN indexes on PostgreSQL (the extension is created
  here if missing; it is a trusted extension, the database owner may create it). SQLite has no trigrams: plain
  indexes of the same names keep the schema equal to the models.
* ``ix_case_reference_prefix``: the beginning of a case reference (``LIKE 'CF-3503%'``), ``varchar_pattern_ops``
  so that it serves prefixes under any collation (a plain index only does under ``C``).
* ``ix_agency_task_open_due``: open tasks by deadline — the overdue filter and a manager's task list walk it from
  the earliest deadline and read no closed task.
* ``ix_agency_task_open_duty_area``: open dated duties (no case) by the beginning of their jurisdiction code — the
  duties half of a manager's task count (the other half starts from the county's children).
* ``ix_pathway_run_stalled``: open pathway runs without a live flow run (the dashboard's stalled list), a handful
  in a healthy deployment, found without reading every open run.

Revision ID: 0011_search
Revises: 0011_calendar
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op


revision = '0011_search'
down_revision = '0011_calendar'
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('requested', 'acknowledged', 'in_progress')")
STALLED = sa.text("status IN ('starting', 'running') AND (down_since IS NOT NULL OR flow_run_id IS NULL)")
OPEN_DUTY = sa.text("case_id IS NULL AND state IN ('requested', 'acknowledged', 'in_progress')")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index('ix_child_full_name_trgm', 'child', ['full_name'], postgresql_using='gin',
                    postgresql_ops={'full_name': 'gin_trgm_ops'})
    op.create_index('ix_child_resident_id_trgm', 'child', ['resident_id'], postgresql_using='gin',
                    postgresql_ops={'resident_id': 'gin_trgm_ops'})
    op.create_index('ix_case_reference_prefix', 'case', ['reference'],
                    postgresql_ops={'reference': 'varchar_pattern_ops'})
    op.create_index('ix_agency_task_open_due', 'agency_task', ['due_at', 'id'],
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index('ix_agency_task_open_duty_area', 'agency_task', ['jurisdiction_code'],
                    postgresql_ops={'jurisdiction_code': 'varchar_pattern_ops'},
                    postgresql_where=OPEN_DUTY, sqlite_where=OPEN_DUTY)
    op.create_index('ix_pathway_run_stalled', 'pathway_run', ['started_at'],
                    postgresql_where=STALLED, sqlite_where=STALLED)


def downgrade() -> None:
    op.drop_index('ix_pathway_run_stalled', table_name='pathway_run')
    op.drop_index('ix_agency_task_open_duty_area', table_name='agency_task')
    op.drop_index('ix_agency_task_open_due', table_name='agency_task')
    op.drop_index('ix_case_reference_prefix', table_name='case')
    op.drop_index('ix_child_resident_id_trgm', table_name='child')
    op.drop_index('ix_child_full_name_trgm', table_name='child')
