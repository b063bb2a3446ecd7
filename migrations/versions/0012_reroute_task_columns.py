"""agency_task: why a task was rejected, where its next attempt goes, and a manager's redirect (issue 12 item 5)

``rejection_kind`` (not_ours / wrong_area / need_more_information / other, '' when not given),
``reroute_unit_code`` (the unit the next attempt goes to: named by the rejecting officer or chosen by the
caseworker or the county manager), ``reroute_note`` (the information the caseworker added), ``rerouted_by`` /
``rerouted_at`` (who settled it, when) and ``redirected_to_id`` (the task a manager's redirect opened in place
of this one, state ``redirected``). See careflow/reroute.py.

Revision ID: 0012_reroute
Revises: 0011_view
Create Date: 2026-12-05
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.base import UTCDateTime


revision = '0012_reroute'
down_revision = '0011_view'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rejection_kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('reroute_unit_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('reroute_note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('rerouted_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column("rerouted_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('redirected_to_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agency_task', schema=None) as batch_op:
        for column in ('redirected_to_id', 'rerouted_at', 'rerouted_by', 'reroute_note', 'reroute_unit_code',
                       'rejection_kind'):
            batch_op.drop_column(column)
