"""agency_unit: answers_by_command — command-line instructions only in messages to units that answer that way
(issue 12)

Revision ID: 0013_cmd
Revises: 0012_act
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_cmd'
down_revision = '0012_act'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers_by_command', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('agency_unit', schema=None) as batch_op:
        batch_op.drop_column('answers_by_command')
