"""pathway_run.dedupe_key and a partial unique index: one open run of a pathway (and item) per case

Issue #16: the same pathway started twice on one case (two clicks, two CLI calls) made two runs, two identical
tasks and two messages. ``dedupe_key`` is the pathway key, or ``service_referral:<item>`` for a run that refers
one service-list item (a case may hold several items at once); the index allows one ``starting``/``running``
run per (case, dedupe_key), so the database refuses the second start however close the two come.

Existing rows get their key from their pathway and parameters. Duplicates already open when this runs (made by
the old bug) are kept as they are — nothing is cancelled behind the caseworker's back — and only the later ones'
keys get a ``#<run id>`` suffix, so that the index can be built; new starts are refused while the earliest runs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OPEN = "status IN ('starting', 'running')"


def upgrade() -> None:
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=100), nullable=False, server_default=''))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        item = "ltrim(trim(parameters->>'item'), '0')"
        run_id = "CAST(id AS TEXT)"
    else:
        item = "ltrim(trim(CAST(json_extract(parameters, '$.item') AS TEXT)), '0')"
        run_id = "id"
    op.execute("UPDATE pathway_run SET dedupe_key = pathway WHERE pathway <> 'service_referral'")
    op.execute(f"UPDATE pathway_run SET dedupe_key = 'service_referral:' || COALESCE({item}, '') "
               "WHERE pathway = 'service_referral'")
    op.execute(
        f"UPDATE pathway_run SET dedupe_key = dedupe_key || '#' || {run_id} WHERE {OPEN} AND EXISTS ("
        "SELECT 1 FROM pathway_run AS earlier WHERE earlier.case_id = pathway_run.case_id "
        "AND earlier.dedupe_key = pathway_run.dedupe_key AND earlier.status IN ('starting', 'running') "
        "AND (earlier.started_at < pathway_run.started_at "
        "OR (earlier.started_at = pathway_run.started_at AND earlier.id < pathway_run.id)))")
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.create_index('uq_pathway_run_open_per_case', ['case_id', 'dedupe_key'], unique=True,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade() -> None:
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.drop_index('uq_pathway_run_open_per_case')
        batch_op.drop_column('dedupe_key')
