"""web_user: a phone number, so that an agency's task page names the caseworker to call (issue 12)

Revision ID: 0011_view
Revises: 0011_fire
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op


revision = '0011_view'
down_revision = '0011_fire'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('web_user', schema=None) as batch_op:
        batch_op.drop_column('phone')
