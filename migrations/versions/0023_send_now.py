"""notification.send_now: messages a pathway flow queued go out within a second, sent by the send loop (issue 17)

A pathway flow no longer sends over SMTP or HTTP itself: it stores the message with ``send_now`` and the send loop
of ``careflow serve`` / ``careflow worker`` (notifications/send_loop.py) sends it. The partial index
``ix_notification_send_now`` serves the loop's scan, which runs several times a second: it holds only messages
queued to go at once and not yet tried. Every other message (escalations, duties, digests) is sent by the sweeper.

Revision ID: 0023_send_now
Revises: 0022_data_exchange
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0023_send_now'
down_revision = '0022_data_exchange'
branch_labels = None
depends_on = None

_SEND_NOW_SQL = "status = 'pending' AND send_now"


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_now', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_notification_send_now', 'notification', ['created_at', 'id'],
                    postgresql_where=sa.text(_SEND_NOW_SQL), sqlite_where=sa.text(_SEND_NOW_SQL))


def downgrade() -> None:
    op.drop_index('ix_notification_send_now', table_name='notification')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('send_now')
