"""survey_record keyed by (round, child); no index on child.residence_county_code

A round's records were keyed by (round_id, resident_id): every child of a survey went into that index at a random
place (ID numbers come in no order), which cost 3 of the 4 seconds of writing a million records. Keyed by
(round_id, child_id), a county's first survey appends (the ids of the children it creates grow with the line), and a
lookup by ID number goes through ``child.resident_id``, unique, which makes (round, child) unique per ID number too.
No query could use ``ix_child_residence_county_code`` (children are found by ID number, by id, or by a prefix of the
area code, which this index cannot serve); writing it cost 0.6 s a million children.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('survey_record', schema=None) as batch_op:
        batch_op.drop_constraint('pk_survey_record', type_='primary')
        batch_op.create_primary_key('pk_survey_record', ['round_id', 'child_id'])
    with op.batch_alter_table('child', schema=None) as batch_op:
        batch_op.drop_index('ix_child_residence_county_code')


def downgrade() -> None:
    with op.batch_alter_table('child', schema=None) as batch_op:
        batch_op.create_index('ix_child_residence_county_code', ['residence_county_code'], unique=False)
    with op.batch_alter_table('survey_record', schema=None) as batch_op:
        batch_op.drop_constraint('pk_survey_record', type_='primary')
        batch_op.create_primary_key('pk_survey_record', ['round_id', 'resident_id'])
