"""Outbound webhooks: one endpoint per API key, one event per session that becomes
final, signed deliveries (Standard Webhooks) retried on a schedule through the queue.

The event is derived from the sessions table's change stream (the final write itself), and recorded
under an id derived from that write, so a repeated stream record or internal step never makes a
second one. The body is built from the session at each attempt: an erased session is sent erased.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker import aws
from eid_broker.config import Settings, get_settings
from eid_broker.errors import (
    ActionNotAllowed,
    DeliveryNotFound,
    EndpointNotFound,
    InternalUnavailable,
    InvalidInput,
)
from eid_broker.observability import Metric, count, logger
from eid_broker.sessions import FINAL_STATUSES, SessionRecord
from eid_broker.sessions.models import iso, utcnow
from eid_broker.sessions.service import service_for
from eid_broker.webhooks import targets
from eid_broker.webhooks.models import (
    TEST_EVENT,
    Attempt,
    Deleted,
    Delivery,
    DeliveryList,
    DeliveryQueued,
    DeliveryStatus,
    Endpoint,
    EndpointOut,
    SecretOut,
)
from eid_broker.webhooks.store import WebhookStore

ROTATION_OVERLAP = timedelta(hours=24)
LEASE_SECONDS = 45.0  # longer than the sender's timeout: a dead sender's attempt is taken again after it
MAX_QUEUE_DELAY = 900  # SQS DelaySeconds; a longer wait is several hops
JITTER = 0.10
DELIVERY_ID = re.compile(r"msg_[0-9a-f]{44}")  # what delivery_id() makes


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def delivery_id(moment: datetime, unique: str) -> str:
    """`msg_` + the event's time in ms (hex, so ids sort by time) + a unique part."""
    return f"msg_{int(moment.timestamp() * 1000):012x}{unique.replace('-', '')}"


def body_of(event_type: str, timestamp: str, data: dict[str, Any]) -> bytes:
    document = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature_headers(delivery_id: str, moment: float, body: bytes, signing: list[str]) -> dict[str, str]:
    """Standard Webhooks 1.0 headers for one attempt: a fresh timestamp, one signature per secret."""
    from standardwebhooks.webhooks import Webhook

    when = datetime.fromtimestamp(math.floor(moment), UTC)
    text = body.decode("utf-8")
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(math.floor(moment)),
        "webhook-signature": " ".join(Webhook(secret).sign(delivery_id, when, text) for secret in signing),
        "content-type": "application/json",
        "user-agent": "eid-broker-webhooks/1.1",
    }


def is_final_transition(event_name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """A stream record of a session becoming final (the template's FilterCriteria say the same)."""
    status = ((new or {}).get("status") or {}).get("S")
    if status not in FINAL_STATUSES:
        return False
    if event_name == "INSERT":
        return True
    return event_name == "MODIFY" and ((old or {}).get("status") or {}).get("S") == "pending"


class Queue:
    """The delivery queue: one message per attempt, delayed up to SQS's 15 minutes per hop (its client
    an aws.LazyClient, so the routes that never queue do not pay for it)."""

    def __init__(self, url: str | None, client: Any) -> None:
        self._url = url
        self._client = client

    def send(self, attempt: Attempt, delay: float = 0.0) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._url,
                MessageBody=attempt.model_dump_json(),
                DelaySeconds=min(MAX_QUEUE_DELAY, max(0, math.ceil(delay))),
            )
        except (ClientError, BotoCoreError) as exc:
            raise InternalUnavailable("The delivery could not be queued; try again.") from exc


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        queue: Queue,
        find_session: Callable[[str], SessionRecord | None],
        *,
        schedule: tuple[int, ...],
        allow_loopback: bool = False,
        retention_days: int = 30,
        clock: Callable[[], datetime] = utcnow,
        resolver: targets.Resolver = socket.getaddrinfo,
        post: Callable[[targets.Target, bytes, dict[str, str]], int] = targets.post,
    ) -> None:
        self._store = store
        self._queue = queue
        self._find_session = find_session
        self._schedule = schedule
        self._allow_loopback = allow_loopback
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._resolver = resolver
        self._post = post

    # The integrator's routes

    def put_endpoint(self, owner: str, url: str) -> EndpointOut:
        try:
            targets.resolve(url, allow_loopback=self._allow_loopback, resolver=self._resolver)
        except targets.TargetRefused as refused:
            message = str(refused)
            raise InvalidInput(
                f"Invalid input: url. {message}", errors=[{"field": "url", "message": message}]
            ) from None
        now = iso(self._clock())
        if (changed := self._store.change_url(owner, url, now)) is not None:
            return changed.to_out()
        secret = new_secret()
        endpoint = Endpoint(owner=owner, url=url, created_at=now, updated_at=now, secret=secret)
        if self._store.create_endpoint(endpoint):
            logger.info("webhook endpoint created", extra={"owner": owner})
            return endpoint.to_out(secret)
        changed = self._store.change_url(owner, url, now)  # another PUT created it a moment ago
        if changed is None:
            raise EndpointNotFound("The endpoint was deleted while it was being set; try again.")
        return changed.to_out()

    def endpoint(self, owner: str) -> EndpointOut:
        return self._endpoint(owner).to_out()

    def _endpoint(self, owner: str) -> Endpoint:
        endpoint = self._store.endpoint(owner)
        if endpoint is None:
            raise EndpointNotFound("This API key has no webhook endpoint.")
        return endpoint

    def delete_endpoint(self, owner: str) -> Deleted:
        if not self._store.delete_endpoint(owner):
            raise EndpointNotFound("This API key has no webhook endpoint.")
        logger.info("webhook endpoint deleted", extra={"owner": owner})
        return Deleted()

    def rotate_secret(self, owner: str) -> SecretOut:
        now = self._clock()
        secret = new_secret()
        until = (now + ROTATION_OVERLAP).timestamp()
        if self._store.rotate_secret(owner, secret, until, iso(now)) is None:
            raise EndpointNotFound("This API key has no webhook endpoint.")
        logger.info("webhook secret rotated", extra={"owner": owner})
        return SecretOut(secret=secret)

    def send_test(self, owner: str) -> DeliveryQueued:
        endpoint = self._endpoint(owner)
        if not endpoint.enabled:
            raise ActionNotAllowed(
                "The endpoint is disabled (it answered 410); PUT its URL to enable it again."
            )
        now = self._clock()
        delivery = self._new_delivery(owner, delivery_id(now, secrets.token_hex(16)), TEST_EVENT, None, now)
        self._store.create_delivery(delivery)
        self._queue.send(Attempt(owner=owner, delivery_id=delivery.delivery_id, attempt=1))
        return DeliveryQueued(delivery_id=delivery.delivery_id)

    def deliveries(self, owner: str, session_id: str | None) -> DeliveryList:
        return DeliveryList(items=[d.to_out() for d in self._store.deliveries(owner, session_id)])

    def redeliver(self, owner: str, delivery_id: str) -> DeliveryQueued:
        if not DELIVERY_ID.fullmatch(delivery_id):  # a malformed id is simply not found
            raise DeliveryNotFound("No such delivery.")
        now = self._clock()
        queued = self._store.queue_again(owner, delivery_id, now.timestamp(), iso(now))
        if queued is None:
            if self._store.delivery(owner, delivery_id) is None:
                raise DeliveryNotFound("No such delivery.")
            raise ActionNotAllowed("An attempt of this delivery is in progress; try again in a minute.")
        self._queue.send(Attempt(owner=owner, delivery_id=delivery_id, attempt=queued.attempts + 1))
        return DeliveryQueued(delivery_id=delivery_id)

    # The change stream: a session became final

    def record_final(self, session: SessionRecord) -> str | None:
        """Record the session's one event if its owner has an enabled endpoint; its delivery id."""
        endpoint = self._store.endpoint(session.owner)
        if endpoint is None or not endpoint.enabled:
            return None
        ended = session.updated_at_dt()
        delivery = self._new_delivery(
            session.owner,
            delivery_id(ended, session.session_id),
            f"session.{session.status}",
            session.session_id,
            ended,
        )
        if not self._store.create_delivery(delivery):
            recorded = self._store.delivery(session.owner, delivery.delivery_id)
            if recorded is None or recorded.attempts > 0:
                return delivery.delivery_id  # recorded and sent already
        # First record, or recorded before a queue failure: an extra message is taken only once.
        self._queue.send(Attempt(owner=session.owner, delivery_id=delivery.delivery_id, attempt=1))
        return delivery.delivery_id

    def _new_delivery(
        self, owner: str, delivery_id: str, event_type: str, session_id: str | None, created: datetime
    ) -> Delivery:
        return Delivery(
            owner=owner,
            delivery_id=delivery_id,
            event_type=event_type,  # type: ignore[arg-type]
            session_id=session_id,
            created_at=iso(created),
            ttl=int((self._clock() + self._retention).timestamp()),
        )

    # The queue: one attempt

    def attempt(self, message: Attempt) -> DeliveryStatus | None:
        """Make the message's attempt; the delivery's status after it (None: nothing to do)."""
        now = self._clock().timestamp()
        if message.not_before > now + 1:
            self._queue.send(message, message.not_before - now)  # one more hop of a long wait
            return None
        delivery = self._store.claim(message.owner, message.delivery_id, message.attempt, now, LEASE_SECONDS)
        if delivery is None:
            return None  # a duplicate message, or the delivery ended
        endpoint = self._store.endpoint(message.owner)
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
        import urllib3

        try:
            target = targets.resolve(
                endpoint.url, allow_loopback=self._allow_loopback, resolver=self._resolver
            )
        except targets.TargetRefused:
            return None, "address_refused"
        now = self._clock().timestamp()
        headers = signature_headers(delivery.delivery_id, now, body, endpoint.signing_secrets(now))
        try:
            return self._post(target, body, headers), None
        except urllib3.exceptions.NewConnectionError:  # a subclass of ConnectTimeoutError
            return None, "connection_error"
        except urllib3.exceptions.TimeoutError:
            return None, "timeout"
        except urllib3.exceptions.SSLError:
            return None, "tls_error"
        except (urllib3.exceptions.HTTPError, OSError):
            return None, "connection_error"


def default_webhooks() -> WebhookService:
    return webhooks_for(get_settings())


@lru_cache(maxsize=8)
def webhooks_for(settings: Settings) -> WebhookService:
    return WebhookService(
        WebhookStore(settings.webhooks_table or "", aws.client("dynamodb")),
        Queue(settings.webhook_queue_url, aws.LazyClient("sqs")),
        # Only the sender reads sessions: the other webhook functions never build the session service.
        lambda session_id: service_for(settings).find(session_id),
        schedule=settings.webhook_retry_schedule,
        allow_loopback=settings.webhook_allow_loopback,
        retention_days=settings.session_retention_days,
    )
