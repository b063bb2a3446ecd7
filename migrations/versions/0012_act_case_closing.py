"""case: closing is a decision — a closure awaiting the county manager's review, and the last reopening (issue 12)

Revision ID: 0012_act
Revises: 0012_elig
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0012_act'
down_revision = '0012_elig'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopened_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('close_requested_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('close_requested_by', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('close_request_reason', sa.String(length=500), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('close_request_reason')
        batch_op.drop_column('close_requested_by')
        batch_op.drop_column('close_requested_at')
        batch_op.drop_column('reopened_at')
