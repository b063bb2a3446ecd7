"""city_list_version: each version of a city's service list as loaded, with its duties (方案 四, issue 14)

One row per (city, publication date), numbered per city: the items as loaded, their differences from the provincial
list, and the ids of the city's filing and republication duties and of the provincial department's confirmation of
receipt. The provincial page of city lists (``/city-lists``) reads the latest version of each city through the
unique (city_code, version) index.

Revision ID: 0019_city_list
Revises: 0017_programmes
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

import models.base


revision = '0019_city_list'
down_revision = '0017_programmes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'city_list_version',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('city_code', sa.String(length=6), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('published_on', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=300), nullable=False),
        sa.Column('title_zh', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('differences', sa.JSON(), nullable=False),
        sa.Column('forced', sa.Boolean(), nullable=False),
        sa.Column('loaded_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('loaded_by', sa.String(length=64), nullable=False),
        sa.Column('filing_task_id', sa.Uuid(), nullable=True),
        sa.Column('republication_task_id', sa.Uuid(), nullable=True),
        sa.Column('receipt_task_id', sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(['filing_task_id'], ['agency_task.id'], name='fk_city_list_version_filing_task_id'),
        sa.ForeignKeyConstraint(['republication_task_id'], ['agency_task.id'],
                                name='fk_city_list_version_republication_task_id'),
        sa.ForeignKeyConstraint(['receipt_task_id'], ['agency_task.id'], name='fk_city_list_version_receipt_task_id'),
        sa.PrimaryKeyConstraint('id', name='pk_city_list_version'),
        sa.UniqueConstraint('city_code', 'published_on', name='uq_city_list_version_city_code_published_on'),
        sa.UniqueConstraint('city_code', 'version', name='uq_city_list_version_city_code_version'),
    )


def downgrade() -> None:
    op.drop_table('city_list_version')
