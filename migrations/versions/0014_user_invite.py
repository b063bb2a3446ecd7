"""user_invite: one-time links by which an agency unit's officers make their own accounts (issue 12)

Revision ID: 0014_invite
Revises: 0013_cmd
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0014_invite'
down_revision = '0013_cmd'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'user_invite',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('unit_code', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=64), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('used_by', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['unit_code'], ['agency_unit.code'], name='fk_user_invite_unit_code'),
        sa.PrimaryKeyConstraint('id', name='pk_user_invite'),
        sa.UniqueConstraint('token_hash', name='uq_user_invite_token_hash'),
    )


def downgrade() -> None:
    op.drop_table('user_invite')
