"""programme, programme_invitation: activities of service-list items 18-20 and the children invited to them

A referral for items 18-20 (闽民童〔2025〕5号 （九）（十）（十一）) no longer opens a task per department: it invites the
child to a programme a department recorded, or puts the child on the county's waiting list for the item
(careflow/programmes.py). The departments' quarterly report duty is an agency_task like any other dated duty.

Revision ID: 0017_programmes
Revises: 0016_id_tail
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = '0017_programmes'
down_revision = '0016_id_tail'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'programme',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('item', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('starts_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('place', sa.String(length=200), nullable=False),
        sa.Column('organiser_unit_code', sa.String(length=64), nullable=False),
        sa.Column('county_code', sa.String(length=6), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('invited_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('walk_ins', sa.Integer(), server_default='0', nullable=False),
        sa.Column('description', sa.String(length=1000), nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('attendance_by', sa.String(length=64), nullable=False),
        sa.Column('attendance_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint('invited_count <= capacity', name='ck_programme_seats'),
        sa.ForeignKeyConstraint(['organiser_unit_code'], ['agency_unit.code']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_programme_next', 'programme', ['county_code', 'item', 'starts_at'])
    op.create_index('ix_programme_unit_starts', 'programme', ['organiser_unit_code', 'starts_at'])
    op.create_table(
        'programme_invitation',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('pathway_run_id', sa.Uuid(), nullable=False),
        sa.Column('case_id', sa.Uuid(), nullable=False),
        sa.Column('child_id', sa.Uuid(), nullable=False),
        sa.Column('item', sa.Integer(), nullable=False),
        sa.Column('county_code', sa.String(length=6), nullable=False),
        sa.Column('programme_id', sa.Uuid(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('invited_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('attendance_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['case.id']),
        sa.ForeignKeyConstraint(['child_id'], ['child.id']),
        sa.ForeignKeyConstraint(['pathway_run_id'], ['pathway_run.id']),
        sa.ForeignKeyConstraint(['programme_id'], ['programme.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('pathway_run_id', name='uq_programme_invitation_run'),
    )
    op.create_index('ix_programme_invitation_case_id', 'programme_invitation', ['case_id'])
    op.create_index('ix_programme_invitation_child_id', 'programme_invitation', ['child_id'])
    op.create_index('ix_programme_invitation_programme', 'programme_invitation', ['programme_id', 'status'])
    op.create_index('ix_programme_invitation_waiting', 'programme_invitation', ['county_code', 'item', 'created_at'],
                    postgresql_where=sa.text('programme_id IS NULL'), sqlite_where=sa.text('programme_id IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_programme_invitation_waiting', table_name='programme_invitation')
    op.drop_index('ix_programme_invitation_programme', table_name='programme_invitation')
    op.drop_index('ix_programme_invitation_child_id', table_name='programme_invitation')
    op.drop_index('ix_programme_invitation_case_id', table_name='programme_invitation')
    op.drop_table('programme_invitation')
    op.drop_index('ix_programme_unit_starts', table_name='programme')
    op.drop_index('ix_programme_next', table_name='programme')
    op.drop_table('programme')
