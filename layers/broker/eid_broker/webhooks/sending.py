"""The delivery queue: one signed attempt per message, the next one queued on the retry schedule.

Timing, from the shortest (tests/infra check the template against these):
WEBHOOK_TIMEOUT_SECONDS (at most 30) bounds one attempt in all, name lookup to the last byte read;
the sender's function timeout (SENDER_TIMEOUT_SECONDS) leaves room for the table writes around it;
a claim's lease (LEASE_SECONDS) outlasts the function, so no second sender takes an attempt that may
still run; the queue's visibility timeout (VISIBILITY_SECONDS) brings the message of a stopped
function back after the lease has ended, and the next claim records that attempt as failed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from eid_broker.observability import Metric, count, logger
from eid_broker.sessions.models import iso
from eid_broker.webhooks import targets, transport
from eid_broker.webhooks.base import WebhookPart, body_of, signature_headers
from eid_broker.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint

MAX_TIMEOUT_SECONDS = 30
SENDER_TIMEOUT_SECONDS = 45
LEASE_SECONDS = 60.0
VISIBILITY_SECONDS = 270  # six times the sender's timeout, as AWS advises for an SQS event source
JITTER = 0.10


class Sender(WebhookPart):
    def attempt(self, message: Attempt) -> DeliveryStatus | None:
        """Make the message's attempt; the delivery's status after it (None: nothing to do)."""
        now = self._clock().timestamp()
        if message.not_before > now + 1:
            self._queue.send(message, message.not_before - now)  # one more hop of a long wait
            return None
        stale = iso(datetime.fromtimestamp(now + VISIBILITY_SECONDS, UTC))
        claimed = self._store.claim(
            message.owner, message.delivery_id, message.attempt, now, LEASE_SECONDS, stale
        )
        if claimed is None:
            return None  # a duplicate message, or the delivery ended
        delivery, interrupted = claimed
        if interrupted:  # this attempt's function was stopped before it recorded anything
            return self._failed(message, delivery, None, "interrupted", now)
        endpoint = self._current(self._store.endpoint(message.owner))
        if endpoint is None or not endpoint.enabled:
            reason = "endpoint_removed" if endpoint is None else "endpoint_disabled"
            return self._record(delivery, "exhausted", None, reason)
        body = self._body(delivery)
        if body is None:
            return self._record(delivery, "exhausted", None, "session_removed")
        status_code, error = self._send(endpoint, delivery, body)
        if status_code is not None and 200 <= status_code < 300:
            return self._record(delivery, "delivered", status_code, None)
        if status_code == 410:
            self._store.disable(endpoint.owner, endpoint.url, iso(self._clock()))
            logger.warning("webhook endpoint answered 410: disabled", extra={"owner": endpoint.owner})
            return self._record(delivery, "exhausted", status_code, None)
        return self._failed(message, delivery, status_code, error, now)

    def _failed(
        self, message: Attempt, delivery: Delivery, status_code: int | None, error: str | None, now: float
    ) -> DeliveryStatus:
        """A failed attempt: the next one on the schedule, or exhausted after the last."""
        if message.attempt > len(self._schedule):
            return self._record(delivery, "exhausted", status_code, error)
        wait = self._schedule[message.attempt - 1] * (1 + JITTER * secrets.randbelow(1001) / 1000)
        after = Attempt(
            owner=message.owner,
            delivery_id=message.delivery_id,
            attempt=message.attempt + 1,
            not_before=now + wait,
        )
        self._queue.send(after, wait)  # first: a lost status write only costs a duplicate attempt
        next_at = iso(datetime.fromtimestamp(now + wait, UTC))
        return self._record(delivery, "retrying", status_code, error, next_at)

    def _record(
        self,
        delivery: Delivery,
        status: DeliveryStatus,
        status_code: int | None,
        error: str | None,
        next_attempt_at: str | None = None,
    ) -> DeliveryStatus:
        self._store.record_attempt(
            delivery, status, status_code=status_code, error=error, next_attempt_at=next_attempt_at
        )
        count(Metric.WEBHOOK_ATTEMPTS, status=status)
        logger.info(
            "webhook attempt",
            extra={
                "delivery_id": delivery.delivery_id,
                "attempt": delivery.attempts,
                "delivery_status": status,
                "status_code": status_code,
                "error": error,
            },
        )
        return status

    def _body(self, delivery: Delivery) -> bytes | None:
        if delivery.session_id is None:
            return body_of(delivery.event_type, delivery.created_at, {})
        session = self._find_session(delivery.session_id)
        if session is None:
            return None
        return body_of(delivery.event_type, delivery.created_at, session.to_out().model_dump(mode="json"))

    def _send(self, endpoint: Endpoint, delivery: Delivery, body: bytes) -> tuple[int | None, str | None]:
        """One attempt within WEBHOOK_TIMEOUT_SECONDS in all: the name lookup takes from the same time."""
        started = self._clock().timestamp()
        try:
            lookup = targets.bounded_lookup(self._timeout, self._resolver)
            target = targets.resolve(endpoint.url, allow_loopback=self._allow_loopback, resolver=lookup)
        except targets.LookupTimedOut:
            return None, "timeout"
        except targets.TargetRefused:
            return None, "address_refused"
        now = self._clock().timestamp()
        left = self._timeout - max(0.0, now - started)
        if left <= 0:
            return None, "timeout"
        headers = signature_headers(delivery.delivery_id, now, body, endpoint.signing_secrets(now))
        try:
            return self._post(target, body, headers, timeout=left), None
        except transport.AttemptFailed as failed:
            return None, failed.reason
