"""The outbox's due-message scan reads only unsent messages, through their partial index (PostgreSQL plan)."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from core.db import get_engine
from notifications.outbox import due_messages_query


def test_the_due_scan_reads_the_unsent_messages_index(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the plan of PostgreSQL")
    now = datetime(2026, 11, 20, 4, tzinfo=timezone.utc)
    with get_engine(database_url).connect() as conn, conn.begin():
        conn.exec_driver_sql("""
            INSERT INTO notification (id, idempotency_key, event, unit_code, recipient_role, subject, body, status,
                attempts, last_error, delivery, created_at)
            SELECT gen_random_uuid(), 'plan-test:' || n, 'task_requested', 'police-350302', 'officer', 's', 'b',
                   CASE WHEN mod(n, 100) = 0 THEN 'pending' ELSE 'sent' END, 1, '', '[]',
                   now() - mod(n, 10000) * interval '1 minute'
            FROM generate_series(1, 40000) AS n""")  # 1 % not yet sent, as in a working outbox
        conn.exec_driver_sql("ANALYZE notification")
        for after in (None, (now - timedelta(days=1), uuid.uuid4())):
            compiled = due_messages_query(now, after).compile(dialect=conn.dialect)
            plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars())
            # through an index of unsent messages (the partial one, or the status index for a small backlog)
            assert "Seq Scan on notification" not in plan, plan
            assert "ix_notification_unsent" in plan or "ix_notification_status" in plan, plan
        conn.rollback()
