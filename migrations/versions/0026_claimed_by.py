"""notification.claimed_by: a killed sender's claims are given back at once, not after ten minutes

A runner killed while its send loop held a message (``sending``, claimed for ``CLAIM_FOR``) left the agency
unnotified for ten minutes. The claim now records its process (``<host>:<pid>:<unix time>``), and a send loop
starting on the same host, or the sweeper's dispatch, gives back the claims of processes that no longer exist.

Revision ID: 0026_claimed_by
Revises: 0025_task_index_upkeep
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0026_claimed_by'
down_revision = '0025_task_index_upkeep'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
