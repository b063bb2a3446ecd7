"""agency_task: the unit that follows a task handled at the child's registration place (issue 13 item 5)

``follower_unit_code``: for a step routed to the civil affairs of the child's household-registration county
(户籍地, 省内通办), the residence county's civil affairs unit, which follows the task: it lists it (跟进), reads its
page, and is told when it is opened, answered or reaches its deadline. NULL for every other task. The partial index
``ix_agency_task_follower_due`` serves a unit's 跟进 list by deadline. See careflow/registration_place.py.

Revision ID: 0021_registration_place
Revises: 0020_key_care_door
Create Date: 2026-12-06
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0021_registration_place'
down_revision = '0020_key_care_door'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('follower_unit_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index('ix_agency_task_follower_due', 'agency_task', ['follower_unit_code', 'due_at', 'id'],
                    postgresql_where=sa.text('follower_unit_code IS NOT NULL'),
                    sqlite_where=sa.text('follower_unit_code IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_agency_task_follower_due', table_name='agency_task')
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.drop_column('follower_unit_code')
