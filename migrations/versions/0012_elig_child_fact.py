"""child_fact: facts the service list's target groups need (disability, 低保, school enrolment …), with source and date

Each row is one record of a fact about a child (``models.child_facts.ChildFact``): the fact, its value, who
established it (caseworker, survey, a department's answer), when, and who recorded it. Rows are never overwritten;
the latest (by ``established_on``, then ``recorded_at``) is the fact's value, read through
``ix_child_fact_child_key``.

Revision ID: 0012_elig
Revises: 0012_reroute
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

import models.base


revision = '0012_elig'
down_revision = '0012_reroute'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'child_fact',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('child_id', sa.Uuid(), nullable=False),
        sa.Column('fact_key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=40), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('source_detail', sa.String(length=200), nullable=False),
        sa.Column('established_on', sa.Date(), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['child_id'], ['child.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_child_fact_child_key', 'child_fact',
                    ['child_id', 'fact_key', 'established_on', 'recorded_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_child_fact_child_key', table_name='child_fact')
    op.drop_table('child_fact')
