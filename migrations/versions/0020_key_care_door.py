"""guardianship_assessment: the family guardianship assessment (困境儿童家庭监护评估) a key care file opens

Opening a key care file (一人一档) by any door — a survey round, a registration, a report, a screening — puts the
child into the family guardianship assessment (方案 七), a civil-affairs task with no case. This table links that
task to the child and to the file; ``ix_guardianship_assessment_child_id`` answers "was one done for this child in
the last year?" per child.

Revision ID: 0020_key_care_door
Revises: 0019_city_list
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0020_key_care_door'
down_revision = '0019_city_list'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'guardianship_assessment',
        sa.Column('task_id', sa.Uuid(), nullable=False),
        sa.Column('child_id', sa.Uuid(), nullable=False),
        sa.Column('file_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['child_id'], ['child.id'], name='fk_guardianship_assessment_child_id'),
        sa.ForeignKeyConstraint(['file_id'], ['key_care_file.id'], name='fk_guardianship_assessment_file_id'),
        sa.ForeignKeyConstraint(['task_id'], ['agency_task.id'], name='fk_guardianship_assessment_task_id'),
        sa.PrimaryKeyConstraint('task_id', name='pk_guardianship_assessment'),
    )
    op.create_index('ix_guardianship_assessment_child_id', 'guardianship_assessment', ['child_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_guardianship_assessment_child_id', table_name='guardianship_assessment')
    op.drop_table('guardianship_assessment')
