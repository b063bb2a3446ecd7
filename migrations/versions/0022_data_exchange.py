"""exchange_file, department_answer, referral_proposal: departments' answers kept with their source, and the
referrals they propose (方案 一（三）加强部门信息数据共享)

``exchange_file``: each answer file a department sent, once (unique by department and SHA-256 of its bytes).
``department_answer``: one row of an answer file about one child (answers as written, file, line, date received).
``referral_proposal``: a referral an answer that reveals a gap proposes to the caseworker, once per (child, item,
answer); ``open`` until the item is referred. ``key_care_file.department_data`` stays (no longer written).

Revision ID: 0022_data_exchange
Revises: 0021_registration_place
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = '0022_data_exchange'
down_revision = '0021_registration_place'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'exchange_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('department', sa.String(length=40), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('stored', sa.Integer(), nullable=False),
        sa.Column('unchanged', sa.Integer(), nullable=False),
        sa.Column('problems', sa.Integer(), nullable=False),
        sa.Column('imported_by', sa.String(length=64), nullable=False),
        sa.Column('imported_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('department', 'sha256', name='uq_exchange_file_department_sha256'),
    )
    op.create_table(
        'department_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.Uuid(), nullable=False),
        sa.Column('department', sa.String(length=40), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('file_id', sa.Integer(), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('line', sa.Integer(), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('received_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['child_id'], ['child.id'], ),
        sa.ForeignKeyConstraint(['file_id'], ['exchange_file.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('file_id', 'line', name='uq_department_answer_file_line'),
    )
    op.create_index('ix_department_answer_child', 'department_answer', ['child_id', 'department', 'received_at'],
                    unique=False)
    op.create_table(
        'referral_proposal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.Uuid(), nullable=False),
        sa.Column('item', sa.Integer(), nullable=False),
        sa.Column('answer_id', sa.Integer(), nullable=False),
        sa.Column('department', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('pathway_run_id', sa.Uuid(), nullable=True),
        sa.Column('referred_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('referred_by', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['answer_id'], ['department_answer.id'], ),
        sa.ForeignKeyConstraint(['child_id'], ['child.id'], ),
        sa.ForeignKeyConstraint(['pathway_run_id'], ['pathway_run.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('child_id', 'item', 'answer_id', name='uq_referral_proposal_child_item_answer'),
    )
    op.create_index('ix_referral_proposal_open', 'referral_proposal', ['status', 'created_at', 'id'], unique=False)
    op.create_index('ix_referral_proposal_child', 'referral_proposal', ['child_id', 'item', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_referral_proposal_child', table_name='referral_proposal')
    op.drop_index('ix_referral_proposal_open', table_name='referral_proposal')
    op.drop_table('referral_proposal')
    op.drop_index('ix_department_answer_child', table_name='department_answer')
    op.drop_table('department_answer')
    op.drop_table('exchange_file')
