"""agency_task: the indexes a survey's duties never need leave them out

A county's first survey writes its key care files' duties and guardianship assessments (about 94,000 tasks for
1,000,000 rows) straight into ``agency_task``; every index they enter costs the import CPU (issue 15). None of them has
a case or a pathway run, and all are open. So:

- ``ix_agency_task_case_id`` holds only tasks with a case (``WHERE case_id IS NOT NULL``): every query reads it by
  ``case_id = …`` or a join on it (timeline, closing, case list marks, a moved child's open tasks), which implies the
  predicate;
- ``uq_task_step_attempt`` (pathway run, step, agency type, attempt) becomes a partial unique index of the tasks with a
  pathway run: a NULL run never conflicted, and the run's tasks are still read through it;
- ``ix_agency_task_state`` holds only closed tasks, on PostgreSQL: a list of one closed state (rejected, cancelled…)
  reads it; open tasks are read through the partial indexes on open tasks (the dashboard figures' scan of open tasks
  plans a sequential scan instead, as fast at 800,000 tasks). SQLite's planner cannot see that
  ``state = 'rejected'`` implies ``state NOT IN (…)``, so there the index stays whole.

Each alone cost 93,000 duties 0.1 (case, state) to 0.2 s (step attempt) of database CPU, as a partial index 0.0-0.02 s;
with every index of the table, inserting them took 3.55 s of CPU before and 3.05 s after (median of 8, alternating).

``ix_agency_task_due_at`` stays whole: a manager's list of closed or all tasks by deadline walks it (without it,
0.5 to 1.3 s instead of 1 to 3 ms for a county's or the province's manager, 800,000 tasks).

On PostgreSQL each index is built under another name before the old one goes, so that reads keep an index while it
builds. On SQLite the unique constraint lives in the table's definition: the table is rebuilt (batch mode).

Revision ID: 0025_task_index_upkeep
Revises: 0024_child_area_index
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0025_task_index_upkeep'
down_revision = '0024_child_area_index'
branch_labels = None
depends_on = None

_STEP = ['pathway_run_id', 'step_key', 'agency_type', 'attempt']
_CASE_TASK = "case_id IS NOT NULL"
_STEP_TASK = "pathway_run_id IS NOT NULL"
_CLOSED = "state NOT IN ('requested', 'acknowledged', 'in_progress')"


def _replace(name: str, columns: list[str], *, where: str | None, unique: bool = False,
             constraint: bool = False) -> None:
    """PostgreSQL: build ``name`` anew (predicate ``where``, or none), then drop the old index (or unique constraint)
    and take its name."""
    options = {'postgresql_where': sa.text(where)} if where else {}
    op.create_index(f'{name}_new', 'agency_task', columns, unique=unique, **options)
    if constraint:
        op.drop_constraint(name, 'agency_task', type_='unique')
    else:
        op.drop_index(name, table_name='agency_task')
    op.execute(f'ALTER INDEX {name}_new RENAME TO {name}')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _replace('ix_agency_task_case_id', ['case_id'], where=_CASE_TASK)
        _replace('uq_task_step_attempt', _STEP, where=_STEP_TASK, unique=True, constraint=True)
        _replace('ix_agency_task_state', ['state'], where=_CLOSED)
        return
    with op.batch_alter_table('agency_task', recreate='always') as batch_op:
        batch_op.drop_constraint('uq_task_step_attempt', type_='unique')
    op.create_index('uq_task_step_attempt', 'agency_task', _STEP, unique=True, sqlite_where=sa.text(_STEP_TASK))
    op.drop_index('ix_agency_task_case_id', table_name='agency_task')
    op.create_index('ix_agency_task_case_id', 'agency_task', ['case_id'], sqlite_where=sa.text(_CASE_TASK))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _replace('ix_agency_task_state', ['state'], where=None)
        op.create_index('uq_task_step_attempt_new', 'agency_task', _STEP, unique=True)
        op.drop_index('uq_task_step_attempt', table_name='agency_task')
        # the constraint takes the index (and renames it to its own name)
        op.execute('ALTER TABLE agency_task ADD CONSTRAINT uq_task_step_attempt UNIQUE USING INDEX '
                   'uq_task_step_attempt_new')
        _replace('ix_agency_task_case_id', ['case_id'], where=None)
        return
    op.drop_index('ix_agency_task_case_id', table_name='agency_task')
    op.create_index('ix_agency_task_case_id', 'agency_task', ['case_id'])
    op.drop_index('uq_task_step_attempt', table_name='agency_task')
    with op.batch_alter_table('agency_task', recreate='always') as batch_op:
        batch_op.create_unique_constraint('uq_task_step_attempt', _STEP)
