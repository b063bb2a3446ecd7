"""The notification outbox: store every message first, then send it, retry, and give up loudly.

:func:`notifications.messages.enqueue_task_message` renders and stores a message once per (task, event, recipient);
``dispatch_notification`` sends one stored message through the unit's channels and records the result.
A message that keeps failing is retried after :data:`RETRY_MINUTES` (2, 4, 8, 16 minutes) and, after
``MAX_ATTEMPTS`` (5) failures, marked ``given_up`` with an alert to the county civil affairs bureau (民政, the
coordinating department). A given-up message is not lost: it is sent again once a later message to the same
channel gets through (:func:`requeue_channel`, the channel is back), or when an admin asks for it on the web
(:func:`requeue_given_up`).
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from core.audit import record_audit
from models.base import utcnow
from models.notification import DeliveryStatus, Notification
from notifications.channels import ChannelConfig, channels_in_use
from notifications.claims import (CLAIM_FOR, claim_one, due_messages,  # noqa: F401 (re-exported)
                                  due_messages_query, due_notifications, release_claims)
from notifications import digest as digests
from notifications.deliver import deliver
from notifications.render import DIGEST_EVENT
from notifications.messages import alert_given_up

log = logging.getLogger(__name__)

#: Minutes to wait before retry 1, 2, 3, 4 (the README's schedule: this tuple is its only source).
RETRY_MINUTES = (2, 4, 8, 16)
#: Attempts before a message is given up: the first send and one per retry.
MAX_ATTEMPTS = len(RETRY_MINUTES) + 1
#: Wait after failed attempt n (1-based) before the next: ``BACKOFF[n - 1]``.
BACKOFF = [timedelta(minutes=m) for m in RETRY_MINUTES]


def url_identity(notification_id: uuid.UUID, url: str) -> str:
    """A stable identity of ``url`` within one notification that does not reveal the URL.

    The sha256 of the notification id and the full URL (``{unit}`` substituted): the same URL gets the
    same identity on every attempt of that notification, so a retry can tell which URLs already have the
    message, while the stored value carries none of the URL's tokens or passwords (the notification id
    as salt keeps equal URLs of different notifications from being matched against each other).
    """
    return hashlib.sha256(f"{notification_id}\n{url}".encode("utf-8")).hexdigest()


def dispatch_notification(session: Session, notification_id: uuid.UUID, *, now: datetime | None = None,
                          max_wait: float = 0.0, hold_bursts: bool = True) -> Notification:
    """Send one stored message and return it; see :func:`try_dispatch` (which also says whether it acted)."""
    return try_dispatch(session, notification_id, now=now, max_wait=max_wait, hold_bursts=hold_bursts)[0]


def try_dispatch(session: Session, notification_id: uuid.UUID, *, now: datetime | None = None,
                 max_wait: float = 0.0, hold_bursts: bool = True, claimed: bool = False) -> tuple[Notification, bool]:
    """Send one stored message through its recipient's channels (from the channel file) and record the result.

    Already ``sent`` or ``given_up`` messages are left alone, so calling this twice never sends twice
    once the first call has recorded its result. So are members of a digest (``sending`` with no claim
    time): the digest carries them (:mod:`notifications.digest`).

    The URLs are those of :meth:`notifications.channels.ChannelConfig.urls_for` for the message's channel
    key and event (a burst digest is routed like the event it merges). ``Notification.delivery`` holds one
    entry per channel URL: ``{"id", "url", "ok", "error", "attempt"}`` (plus ``"uncertain": true`` when the
    platform did not answer in time) -- ``id`` is :func:`url_identity` (never the URL itself), ``url`` the
    redacted URL, ``attempt`` the attempt that last tried it (for a delivered URL: the attempt that
    delivered it). A retry sends only to the URLs that do not have the message yet, so a unit with an
    email and a DingTalk channel never gets the message twice on the channel that worked. Entries of URLs
    that were delivered and have since been removed from the channel file are kept as a record.

    Rate limits: a URL whose token bucket is empty for longer than ``max_wait`` seconds is not tried; it
    costs no attempt, and the message stays ``pending`` (or ``failed``) with ``next_attempt_at`` at the
    time a token is there.

    Bursts: with ``hold_bursts`` (the flows' immediate send), a new message of a digest event for a
    recipient that is in a burst (:func:`notifications.digest.in_burst`) is not sent here; it stays
    ``pending`` for the next sweep, which merges the burst into one digest.

    Two dispatchers never send the same message: each first claims it (``sending``, committed, until
    ``claimed_until``); a dispatcher that crashes mid-send leaves a claim that expires after
    :data:`CLAIM_FOR`, and the message is then due again. ``claimed=True`` says the caller already holds
    the claim (:func:`notifications.claims.claim_rows`, one commit for a batch).

    The message is ``sent`` once every URL configured for the recipient has it. On failure: ``failed``
    with ``next_attempt_at`` set by :data:`BACKOFF`; at :data:`MAX_ATTEMPTS`, ``given_up`` and an alert to
    the county civil affairs. A digest's final status is passed on to the messages it carries.

    Returns:
        ``(notification, acted)``: ``acted`` is False when this call sent nothing because the message was
        already final, held for a burst digest, parked in a digest or claimed by another dispatcher.
    """

    now = now or utcnow()
    config = channels_in_use()
    if hold_bursts and not claimed:
        waiting = session.get(Notification, notification_id)
        if waiting is not None and digests.in_burst(session, waiting, config.digest, now):
            return waiting, False
    if not claimed and not claim_one(session, notification_id, now):  # sent, given up, in a digest, or claimed
        return session.get(Notification, notification_id), False
    notification = session.get(Notification, notification_id)
    attempt = send_where_missing(notification, config, max_wait)
    notification.delivery = attempt.delivery_record()
    follow_up = settle(notification, attempt, now)
    if follow_up == "channel_back":
        requeue_channel(session, notification.unit_code, now=now)
    elif follow_up == "given_up":
        alert_given_up(session, notification)
    session.add(notification)
    record_audit(session, **attempt_audit(notification, attempt))
    if notification.event == DIGEST_EVENT:
        digests.settle_members(session, notification, now)
    return notification, True


@dataclass
class Attempt:
    """What one dispatch did to a message's URLs: ``identities`` (:func:`url_identity`) of the URLs configured
    now, in order; their delivery ``entries`` (earlier or new); the entries of URLs ``delivered`` earlier; the
    single entry of ``deliver()`` when ``no_channel`` is configured; how many URLs were ``tried``, and the
    longest wait for a rate-limit token (``deferred_for``, seconds; URLs deferred are not tried)."""

    identities: list[str]
    entries: dict[str, dict]
    delivered: dict[str, dict]
    no_channel: list[dict] = field(default_factory=list)
    tried: int = 0
    deferred_for: float = 0.0

    def delivery_record(self) -> list[dict]:
        """The new ``Notification.delivery``: the configured URLs in order, then URLs that got the message
        earlier but are no longer configured. A new list (JSON columns do not track in-place changes)."""
        return ([self.entries[ident] for ident in self.identities if ident in self.entries] + self.no_channel
                + [entry for ident, entry in self.delivered.items() if ident not in self.entries])


def send_where_missing(notification: Notification, config: ChannelConfig, max_wait: float) -> Attempt:
    """Send the message to the recipient's URLs that do not have it yet; count an attempt if any was tried.

    When every configured URL already has it (a failing one was removed from the channel file), nothing is
    sent. When no URL is configured, :func:`notifications.deliver.deliver` still runs and explains that.
    """
    urls = config.urls_for(notification.unit_code, digests.route_event(notification))
    unique_urls = list(dict.fromkeys(urls))  # a URL listed twice is sent to once
    identities = [url_identity(notification.id, url) for url in unique_urls]
    earlier = {entry["id"]: entry for entry in (notification.delivery or [])
               if isinstance(entry, dict) and entry.get("id")}
    delivered = {ident: entry for ident, entry in earlier.items() if entry.get("ok")}
    pending = [(ident, url) for ident, url in zip(identities, unique_urls) if ident not in delivered]
    attempt = Attempt(identities, {ident: earlier[ident] for ident in identities if ident in earlier}, delivered)
    if not pending and unique_urls:
        return attempt
    result = deliver([url for _, url in pending], notification.subject, notification.body,
                     endpoints=config.endpoints, limits=config.limits, max_wait=max_wait)
    attempt.tried = sum(1 for outcome in result.per_url if not outcome.deferred_for)
    attempt.deferred_for = max((outcome.deferred_for for outcome in result.per_url), default=0.0)
    if attempt.tried:
        notification.attempts += 1
    if not pending:  # no channel configured: deliver() explains it in a single failed entry
        attempt.no_channel = [{"id": "", "url": r.url_redacted, "ok": r.ok, "error": r.error,
                               "attempt": notification.attempts} for r in result.per_url]
    for (ident, _url), outcome in zip(pending, result.per_url):
        if outcome.deferred_for:
            continue  # not tried: keeps its earlier entry, if any
        entry = {"id": ident, "url": outcome.url_redacted, "ok": outcome.ok,
                 "error": outcome.error, "attempt": notification.attempts}
        if outcome.uncertain:
            entry["uncertain"] = True
        attempt.entries[ident] = entry
    return attempt


def settle(notification: Notification, attempt: Attempt, now: datetime) -> str:
    """The message's status after the attempt (set on ``notification``, nothing written): sent, waiting for a
    rate limit, to be retried after :data:`BACKOFF`, or given up at :data:`MAX_ATTEMPTS`. Releases the claim.

    Only failures of this attempt count against the message; a URL that was merely deferred by its rate limit
    costs no attempt.

    Returns:
        what the caller must do besides storing the message: ``"channel_back"`` (sent after a URL was tried:
        the channel works, :func:`requeue_channel` its given-up messages), ``"given_up"`` (alert the county
        civil affairs manager, :func:`notifications.messages.alert_given_up`), or ``""``.
    """
    failures = [entry for entry in notification.delivery if not entry["ok"]]
    fresh_failures = attempt.no_channel + [entry for entry in failures
                                           if attempt.tried and entry["attempt"] == notification.attempts]
    notification.claimed_until = None
    if not failures and not attempt.deferred_for:
        notification.status, notification.sent_at = DeliveryStatus.sent, now
        notification.last_error, notification.next_attempt_at = "", None
        return "channel_back" if attempt.tried else ""
    notification.last_error = _failure_text(failures)
    if attempt.deferred_for and not fresh_failures:
        # Waiting for a rate limit only: nothing tried failed now. A channel that failed before and is
        # deferred now keeps its failure (status failed), but no attempt is counted against it.
        notification.status = DeliveryStatus.failed if failures else DeliveryStatus.pending
        notification.next_attempt_at = now + timedelta(seconds=attempt.deferred_for)
        return ""
    log.warning("notification %s to %s failed (attempt %s): %s", notification.id, notification.unit_code,
                notification.attempts, notification.last_error)
    if notification.attempts >= MAX_ATTEMPTS:
        notification.status, notification.next_attempt_at = DeliveryStatus.given_up, None
        return "given_up"
    notification.status = DeliveryStatus.failed
    notification.next_attempt_at = now + max(BACKOFF[notification.attempts - 1],
                                             timedelta(seconds=attempt.deferred_for))
    return ""


def _failure_text(failures: list[dict]) -> str:
    """``Notification.last_error``: each failed URL (redacted) and its error, at most 1,000 characters."""
    return "; ".join(f"{f['url']}: {f['error']}" for f in failures)[:1000]


def attempt_audit(notification: Notification, attempt: Attempt) -> dict:
    """The audit event of the attempt (keyword arguments of :func:`core.audit.record_audit`):
    ``notification.<status>``, or ``notification.deferred`` when no URL was tried."""
    action = "deferred" if not attempt.tried and not attempt.no_channel else notification.status.value
    return {"actor": "careflow", "action": f"notification.{action}", "entity_type": "notification",
            "entity_id": notification.id, "case_id": notification.case_id,
            "detail": {"attempt": notification.attempts, "unit": notification.unit_code, "urls_tried": attempt.tried,
                       "urls_delivered": sum(1 for entry in notification.delivery if entry["ok"]),
                       "urls_failed": sum(1 for entry in notification.delivery if not entry["ok"]),
                       **({"rate_limited_for_s": round(attempt.deferred_for, 1)} if attempt.deferred_for else {})}}


def requeue_channel(session: Session, channel: str, *, now: datetime | None = None) -> int:
    """Make every ``given_up`` message of the channel key ``channel`` (a unit code, ``caseworker.<login>``…)
    ``pending`` again, due at once: called when a message to that channel has just been delivered.

    One set-based UPDATE (index ``ix_notification_status``: given-up messages are few). A requeued message keeps
    its attempt count, so if it fails again it is given up again at once (its alert is not repeated: alerts are
    stored once per task, event and recipient); its delivered URLs are not sent to again. Audited once per call
    (``notification.requeued``, with the count) when anything was requeued.

    Returns:
        the number of messages requeued.
    """
    now = now or utcnow()
    requeued = session.execute(
        sa.update(Notification)
        .where(Notification.unit_code == channel, Notification.status == DeliveryStatus.given_up)
        .values(status=DeliveryStatus.pending, next_attempt_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if requeued:
        record_audit(session, actor="careflow", action="notification.requeued", entity_type="channel",
                     entity_id=channel[:64], reason="a later message to this channel was delivered",
                     detail={"unit": channel, "count": requeued})
        log.info("channel %s delivers again: %s given-up message(s) requeued", channel, requeued)
    return requeued


def requeue_given_up(session: Session, notification_id: uuid.UUID, *, actor: str,
                     now: datetime | None = None) -> bool:
    """Send a ``given_up`` message again (an admin's 重新发送): it becomes ``pending``, due at once, and the next
    dispatch pass sends it (to the URLs that do not have it yet). Conditional on the message still being given
    up, so two clicks requeue it once. Audited (``notification.resend_requested`` by ``actor``).

    Returns:
        True when it was requeued; False when it was not (or no longer) given up.
    """
    now = now or utcnow()
    changed = session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status == DeliveryStatus.given_up)
        .values(status=DeliveryStatus.pending, next_attempt_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if changed:
        notification = session.get(Notification, notification_id)
        session.refresh(notification)
        record_audit(session, actor=actor, action="notification.resend_requested", entity_type="notification",
                     entity_id=notification_id, case_id=notification.case_id,
                     detail={"unit": notification.unit_code, "attempts": notification.attempts})
    return changed
