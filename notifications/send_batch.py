"""Send a batch of one recipient's claimed messages, then record every result in one transaction.

The dispatcher (:mod:`notifications.dispatcher`) claims a recipient's due messages :data:`CLAIM_BATCH` at a
time (:func:`notifications.claims.claim_rows`: one conditional UPDATE that returns the claimed rows,
committed); :func:`send_claimed` then

1. takes those rows (or, given a bare claim, reads the rows still carrying it in one SELECT), with no database
   transaction (on SQLite: no write lock) held while the network is used;
2. sends them in order, each exactly as :func:`notifications.outbox.try_dispatch` would (same URLs, same
   delivery record, same status rules: :func:`notifications.outbox.send_where_missing` and
   :func:`notifications.outbox.settle`), over the connections the thread keeps for the pass
   (:mod:`notifications.connections`); it stops at the first message whose rate limit has no token and gives
   the claims on the rest back;
3. records every result in one transaction (and, while a batch is slow, every :data:`RECORD_EVERY` seconds): one
   set-based UPDATE of the messages (:func:`core.bulk.update_rows`,
   conditional on the claim: a message whose claim was lost meanwhile is not overwritten), one bulk insert of
   their audit events, one :func:`notifications.outbox.requeue_channel` per channel that delivered again, and
   the alerts for messages given up and the members of digests.

A dispatcher that dies between sending and recording leaves the claims to expire
(:data:`notifications.claims.CLAIM_FOR`); those messages are sent again then, as a single message could be.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from core.audit import record_audits
from core.bulk import update_rows
from core.db import session_scope
from models.base import utcnow
from models.notification import DeliveryStatus, Notification
from notifications import digest as digests
from notifications.channels import channels_in_use
from notifications.claims import Claim, release_claims
from notifications.messages import alert_given_up
from notifications.outbox import Attempt, attempt_audit, requeue_channel, send_where_missing, settle
from notifications.render import DIGEST_EVENT

log = logging.getLogger(__name__)

#: Messages of one recipient claimed, sent and recorded together (a claim not used expires, see CLAIM_FOR).
CLAIM_BATCH = 50
#: Results are recorded at least this often (seconds) while a batch is sent, e.g. when its sends wait for a
#: rate limit's tokens: a message is not shown ``sending`` for long after it went out, and a dispatcher that
#: dies sends again at most this long's worth of messages.
RECORD_EVERY = 1.0

#: Columns a send changes, as :func:`core.bulk.update_rows` assignments (the claim is released).
_ASSIGNMENTS = {"status": "v.status", "attempts": "v.attempts", "last_error": "v.last_error",
                "delivery": "v.delivery", "next_attempt_at": "v.next_attempt_at", "sent_at": "v.sent_at",
                "claimed_until": "NULL"}
#: Only rows still holding this dispatcher's claim are recorded.
_STILL_CLAIMED = f"t.status = '{DeliveryStatus.sending.value}' AND t.claimed_until = v.claimed_until"


@dataclass
class _Sent:
    """One message after its send: the detached row (new values set), the attempt, what to do besides storing."""

    notification: Notification
    attempt: Attempt
    follow_up: str


def send_claimed(claim: Claim, *, now: datetime | None, max_wait: float, send_until: float,
                 database_url: str | None, rows: list[Notification] | None = None) -> tuple[Counter[str], bool]:
    """Send the messages of ``claim`` (one recipient's, oldest first) and record their results together.

    Args:
        claim: what :func:`notifications.claims.claim_rows` claimed.
        now: the time to act at (default the real time at each send).
        max_wait: seconds one send may wait for a rate-limit token, until ``send_until`` (``time.monotonic()``);
            after it no send waits.
        database_url: default the settings' database.
        rows: the claimed messages as the claim's own UPDATE returned them
            (:func:`notifications.claims.claim_rows`, detached); without them they are read again, those
            still carrying the claim.

    Returns:
        ``({status: count}, stopped)``: counts by the status each message ended in (``sent``, ``failed``,
        ``pending`` = deferred by its rate limit, ``given_up``), ``deferred`` for claims given back unused,
        ``error`` for a message whose send raised (logged; its claim expires and it is retried); ``stopped``
        is True when a rate limit stopped the batch (the recipient's channel has no token now).
    """
    if rows is None:
        with session_scope(database_url) as session:
            rows = session.exec(select(Notification).where(
                Notification.id.in_(claim.ids), Notification.status == DeliveryStatus.sending,
                Notification.claimed_until == claim.until)).all()
            session.expunge_all()
    by_id = {row.id: row for row in rows}
    config = channels_in_use()
    done: list[_Sent] = []
    served: Counter[str] = Counter({"skipped": len(claim.ids) - len(by_id)} if len(by_id) < len(claim.ids) else {})
    stopped, recorded_at = False, time.monotonic()
    for position, notification_id in enumerate(i for i in claim.ids if i in by_id):
        notification = by_id[notification_id]
        try:
            attempt = send_where_missing(notification, config, max_wait if time.monotonic() < send_until else 0.0)
            notification.delivery = attempt.delivery_record()
            done.append(_Sent(notification, attempt, settle(notification, attempt, now or utcnow())))
        except Exception:  # one broken message must not stop the others; its claim expires, it is retried
            log.exception("dispatching notification %s failed", notification_id)
            served["error"] += 1
            continue
        if time.monotonic() - recorded_at > RECORD_EVERY:
            served.update(_record(done, claim, now, database_url))
            done, recorded_at = [], time.monotonic()
        if not attempt.tried and attempt.deferred_for:
            stopped = True  # the channel has no token now: leave the rest for the next pass
            rest = [i for i in claim.ids if i in by_id][position + 1:]
            with session_scope(database_url) as session:
                release_claims(session, rest)
            served["deferred"] += len(rest)
            break
    served.update(_record(done, claim, now, database_url))
    return served, stopped


def _record(done: list[_Sent], claim: Claim, now: datetime | None, database_url: str | None) -> Counter[str]:
    """Store the results of one batch in one transaction; returns the count by status (``error`` for all when
    the transaction fails: the messages' claims then expire and they are sent again)."""
    if not done:
        return Counter()
    moment = now or utcnow()
    rows = [{"id": s.notification.id, "status": s.notification.status, "attempts": s.notification.attempts,
             "last_error": s.notification.last_error, "delivery": s.notification.delivery,
             "next_attempt_at": s.notification.next_attempt_at, "sent_at": s.notification.sent_at,
             "claimed_until": claim.until} for s in done]
    try:
        with session_scope(database_url) as session:
            recorded = update_rows(session, Notification.__table__, rows, key="id", assignments=_ASSIGNMENTS,
                                   where=_STILL_CLAIMED)
            if recorded != len(rows):
                log.warning("%d of %d sent notifications had lost their claim; their results were not recorded",
                            len(rows) - recorded, len(rows))
            record_audits(session, [attempt_audit(s.notification, s.attempt) for s in done])
            for channel in sorted({s.notification.unit_code for s in done if s.follow_up == "channel_back"}):
                requeue_channel(session, channel, now=moment)
            for s in done:
                if s.follow_up == "given_up":
                    alert_given_up(session, s.notification)
                if s.notification.event == DIGEST_EVENT:
                    digests.settle_members(session, s.notification, moment)
    except Exception:
        log.exception("recording %d sent notifications failed; they are sent again when their claim expires",
                      len(done))
        return Counter(error=len(done))
    return Counter(s.notification.status.value for s in done)
