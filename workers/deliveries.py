"""The delivery job: one try of one webhook delivery, signed, logged, and its next try scheduled.

At most one try of a delivery is in flight: the try holds the delivery's row
lock from before the call until its outcome is written. A worker killed in the
middle releases the lock with its connection and writes nothing, so the try is
made again (the receiver may see it twice, with the same delivery id and
body: at least once, de-duplicable). A job that finds the delivery finished,
not yet due, or in flight elsewhere does nothing, so duplicate jobs are harmless.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import psycopg
from rq import Queue, get_current_job
from rq.serializers import JSONSerializer

from orderledger.automation.dispatch import enqueue_deliveries, enqueue_delivery, webhook_queue
from orderledger.automation.payload import DeliveryFacts, build_body
from orderledger.automation.sender import SendResult, send
from orderledger.automation.target_policy import TargetRefused, resolve_target
from orderledger.domain.delivery_policy import Verdict, retry_delay, verdict
from orderledger.domain.webhook_signature import DELIVERY_HEADER, EVENT_HEADER, SEQUENCE_HEADER, SIGNATURE_HEADER, signature_header
from workers.context import WorkerContext, current

log = logging.getLogger("orderledger.webhooks")

# A sweep holds due rows for a moment; a try waits that out, but not a try in flight elsewhere.
_LOCK_WAIT = "2s"

_CLAIM = """
SELECT d.delivery_id, d.aggregate_id, d.order_id, d.version, d.kind, d.action_request_id, d.sequence, d.occurred_at,
       d.status, d.attempts, d.round_attempts, d.body,
       d.next_attempt_at <= clock_timestamp() + interval '1 second' AS due,
       s.url, s.secret, s.removed_at IS NOT NULL AS removed
FROM webhook_delivery d JOIN webhook_subscription s ON s.subscription_id = d.subscription_id
WHERE d.delivery_id = %s
FOR UPDATE OF d
"""

_LOG_ATTEMPT = """
INSERT INTO webhook_attempt (delivery_id, attempt, status_code, latency_ms, error, response_excerpt)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (delivery_id, attempt) DO NOTHING
"""

_RECORD_OUTCOME = """
UPDATE webhook_delivery SET
    status = %(status)s, attempts = %(attempt)s, round_attempts = %(round)s, body = %(body)s,
    last_status_code = %(status_code)s, last_error = %(error)s,
    next_attempt_at = clock_timestamp() + make_interval(secs => %(delay)s),
    delivered_at = CASE WHEN %(status)s = 'delivered' THEN clock_timestamp() END,
    dead_at = CASE WHEN %(status)s = 'dead' THEN clock_timestamp() END
WHERE delivery_id = %(delivery_id)s
"""


@dataclass(frozen=True, slots=True)
class TryOutcome:
    summary: str
    next_attempt: int | None = None  # set when another try is due after `delay` seconds
    delay: float = 0.0


def deliver(delivery_id: str) -> str:
    """RQ job (by dotted path): one try of a delivery; schedules the next try when this one failed."""
    outcome = make_try(current(), UUID(delivery_id))
    if outcome.next_attempt is not None:
        job = get_current_job()
        if job is not None:  # else the delivery sweep enqueues it when it is due
            queue = Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
            enqueue_delivery(queue, UUID(delivery_id), outcome.next_attempt, outcome.delay)
    return outcome.summary


def dispatch_new(delivery_ids: list[UUID], queue_name: str) -> None:
    """From a job: enqueue the first tries of deliveries its transaction wrote (call after the commit)."""
    job = get_current_job()
    if delivery_ids and job is not None:
        enqueue_deliveries(webhook_queue(job.connection, queue_name), delivery_ids)


def make_try(
    context: WorkerContext, delivery_id: UUID, clock: Callable[[], float] = time.time,
    randomness: Callable[[], float] = random.random,
) -> TryOutcome:
    """Make the delivery's next try if it is pending and due, and record how it went."""
    try:
        return _make_try(context, delivery_id, clock, randomness)
    except psycopg.errors.LockNotAvailable:
        return TryOutcome("in flight elsewhere")


def _make_try(
    context: WorkerContext, delivery_id: UUID, clock: Callable[[], float], randomness: Callable[[], float]
) -> TryOutcome:
    settings = context.settings
    with context.pool.connection() as conn, conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_WAIT}'")
        row = conn.execute(_CLAIM, (delivery_id,)).fetchone()
        if row is None:
            return TryOutcome("no such delivery")
        (_, aggregate_id, order_id, version, kind, request_id, sequence, occurred_at,
         status, attempts, round_attempts, body_text, due, url, secret, removed) = row
        if status != "pending":
            return TryOutcome(f"already {status}")
        if not due:
            return TryOutcome("not due yet")
        attempt, this_round = attempts + 1, round_attempts + 1
        facts = DeliveryFacts(delivery_id, aggregate_id, order_id, version, kind, request_id, sequence, occurred_at)
        body = body_text.encode() if body_text is not None else build_body(conn, context.ledger, facts)
        if removed:
            result, decision = SendResult(None, 0, "the subscription was removed", None), Verdict.DEAD
        else:
            result = _call(url, secret, body, facts, attempt, settings.webhook_allow_private, settings.webhook_timeout, clock)
            decision = verdict(result.status_code, this_round, settings.webhook_retry_delays)
        delay = retry_delay(this_round, settings.webhook_retry_delays, randomness()) if decision is Verdict.RETRY else 0.0
        error = result.error or (None if decision is Verdict.DELIVERED else f"HTTP {result.status_code}")
        conn.execute(_LOG_ATTEMPT, (delivery_id, attempt, result.status_code, result.latency_ms, result.error, result.excerpt))
        conn.execute(_RECORD_OUTCOME, {
            "status": "pending" if decision is Verdict.RETRY else decision.value, "attempt": attempt,
            "round": this_round, "body": body.decode(), "status_code": result.status_code, "error": error,
            "delay": delay, "delivery_id": delivery_id,
        })
    if decision is Verdict.RETRY:
        log.info("delivery %s try %d failed (%s); next in %.1fs", delivery_id, attempt, error, delay)
        return TryOutcome(f"try {attempt} failed: {error}", next_attempt=attempt + 1, delay=delay)
    if decision is Verdict.DEAD:
        log.warning("delivery %s is dead after try %d: %s", delivery_id, attempt, error)
    return TryOutcome(f"try {attempt}: {decision.value}")


def _call(
    url: str, secret: str, body: bytes, facts: DeliveryFacts, attempt: int, allow_private: bool, timeout: float,
    clock: Callable[[], float],
) -> SendResult:
    try:
        target = resolve_target(url, allow_private)  # again now: DNS may have changed since the subscription
    except TargetRefused as refused:
        return SendResult(None, 0, f"target refused: {refused.detail}", None)
    headers = {
        # Signed per try, with the time of the try: a receiver's replay window stays meaningful on retries.
        SIGNATURE_HEADER: signature_header(secret, int(clock()), body),
        DELIVERY_HEADER: str(facts.delivery_id),
        SEQUENCE_HEADER: str(facts.sequence),
        EVENT_HEADER: facts.kind,
        "X-Orderledger-Attempt": str(attempt),
    }
    return send(target, body, headers, timeout)
