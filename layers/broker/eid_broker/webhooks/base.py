"""What every part of the outbound webhooks shares: ids, bodies, signatures, the
delivery queue, and the dependencies each part is built with.

The parts follow the functions: `endpoints` (the endpoint routes), `deliveries` (listing and
redeliver), `dispatch` (the sessions stream records one event per final session) and `sending` (one
attempt per queue message, the retry schedule). Each function builds only its own part.
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
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.errors import InternalUnavailable
from eid_broker.sessions import SessionRecord
from eid_broker.sessions.models import iso, utcnow
from eid_broker.webhooks import targets, transport
from eid_broker.webhooks.models import Attempt, Delivery, Endpoint
from eid_broker.webhooks.store import WebhookStore

ROTATION_OVERLAP = timedelta(hours=24)
MAX_QUEUE_DELAY = 900  # SQS DelaySeconds; a longer wait is several hops
DELIVERY_ID = re.compile(r"msg_[0-9a-f]{44}")  # what delivery_id() makes

Post = Callable[..., int]  # (target, body, headers, timeout) -> HTTP status; raises AttemptFailed


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


def no_limit(owner: str) -> None:
    """The manual-call limit of a part that makes no manual calls (or of a test that sets none)."""


class WebhookPart:
    """The dependencies of every part; each part uses the ones its function needs."""

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
        post: Post = transport.post,
        timeout: float = targets.TIMEOUT_SECONDS,
        manual_limit: Callable[[str], None] = no_limit,
        cursor_key: Callable[..., str] | None = None,
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
        self._timeout = timeout
        self._manual_limit = manual_limit
        self._cursor_key = cursor_key

    def _new_delivery(
        self, owner: str, delivery_id: str, event_type: str, session_id: str | None, created: datetime
    ) -> Delivery:
        now = self._clock()
        return Delivery(
            owner=owner,
            delivery_id=delivery_id,
            event_type=event_type,
            session_id=session_id,
            created_at=iso(created),
            next_attempt_at=iso(now),  # due now: a pending delivery always says when it is tried
            ttl=int((now + self._retention).timestamp()),
        )

    def _current(self, endpoint: Endpoint | None) -> Endpoint | None:
        """The endpoint without a previous secret whose overlap has ended (removed from the table)."""
        if endpoint is None or endpoint.previous_secret is None:
            return endpoint
        now = self._clock().timestamp()
        if (endpoint.previous_until or 0) > now:
            return endpoint
        self._store.drop_previous_secret(endpoint.owner, endpoint.previous_until)
        return endpoint.model_copy(update=dict.fromkeys(("previous_secret", "previous_until")))
