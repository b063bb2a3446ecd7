"""pathway_run.outcome_phrases: a pathway's outcome in the reader's language

The outcome of a pathway run was stored only as Chinese text, so English pages, the English API and the timeline
showed it in Chinese. The flows now also store it as catalogue phrases (``core.outcome``), worded when read; the
Chinese text stays (the audit quotes it). Older rows have no phrases and show their text.

Revision ID: 0027_outcome_phrases
Revises: 0026_claimed_by
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op

revision = '0027_outcome_phrases'
down_revision = '0026_claimed_by'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_phrases', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pathway_run', schema=None) as batch_op:
        batch_op.drop_column('outcome_phrases')
