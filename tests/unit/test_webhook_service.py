"""The outbound webhook service on moto's DynamoDB: one delivery per final session however often the
stream repeats it, retries on the schedule with the same id and fresh signatures, 410, redeliver, the
address re-checked at every attempt. The queue and the receiver are recorded in-process (the e2e suite
runs them for real on `make run`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from standardwebhooks.webhooks import Webhook

from eid_broker.errors import ActionNotAllowed
from eid_broker.sessions.models import SessionRecord
from eid_broker.webhooks.models import Attempt
from eid_broker.webhooks.service import Queue, WebhookService
from eid_broker.webhooks.store import WebhookStore
from tests.conftest import create_table
from tests.unit.test_webhook_targets import answering

TABLE, OWNER, URL = "webhooks", "key-a", "https://hooks.example.com/eid"
SCHEDULE = (5, 300)


class Recorded:
    """The SQS client (messages with their delay) and the receiver (planned answers)."""

    def __init__(self) -> None:
        self.messages: list[tuple[Attempt, int]] = []
        self.posts: list[tuple[bytes, dict[str, str], str]] = []
        self.plan: list[int] = []

    def send_message(self, QueueUrl: str, MessageBody: str, DelaySeconds: int) -> None:
        self.messages.append((Attempt.model_validate_json(MessageBody), DelaySeconds))

    def post(self, target: Any, body: bytes, headers: dict[str, str], timeout: float = 15) -> int:
        self.posts.append((body, headers, target.address))
        return self.plan.pop(0) if self.plan else 204


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def world() -> Iterator[tuple[WebhookService, Recorded, Clock, dict[str, Any]]]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE, "owner", "item")
        recorded, clock = Recorded(), Clock()
        resolver = {"answer": answering("93.184.216.34")}
        sessions: dict[str, SessionRecord] = {}
        service = WebhookService(
            WebhookStore(TABLE, client),
            Queue("https://sqs/q", recorded),
            sessions.get,
            schedule=SCHEDULE,
            clock=clock,
            resolver=lambda *a, **k: resolver["answer"](*a, **k),
            post=recorded.post,
        )
        yield service, recorded, clock, {"sessions": sessions, "resolver": resolver}


def completed(clock: Clock, sessions: dict[str, SessionRecord]) -> SessionRecord:
    now = clock.now.isoformat().replace("+00:00", "Z")
    record = SessionRecord(
        session_id="0b6c8c1e-3f7e-4d7a-9d59-0d8f3c1a2b44",
        method="dokobit-mobile-id",
        owner=OWNER,
        status="completed",
        reference="order-17",
        created_at=now,
        updated_at=now,
        expires_at=now,
        ttl=0,
    )
    sessions[record.session_id] = record
    return record


def signed_by(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The event, if `secret` signed it as Standard Webhooks says (at the attempt's own timestamp: the
    library's verify would compare it with the real clock, and these tests move a fake one)."""
    moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], moment, body.decode())
    assert expected in headers["webhook-signature"].split(" ")
    return json.loads(body)


def deliver_next(service: WebhookService, recorded: Recorded) -> Any:
    message, _ = recorded.messages.pop(0)
    return service.attempt(message)


def test_a_repeated_stream_record_makes_one_delivery_and_one_message(world: Any) -> None:
    service, recorded, clock, state = world
    secret = service.put_endpoint(OWNER, URL).secret
    session = completed(clock, state["sessions"])
    ids = {service.record_final(session) for _ in range(3)}  # at-least-once stream, duplicate steps
    # Before its first attempt a repeat may queue the attempt again (the first send may have been
    # lost), but only one message wins the attempt's claim: one POST.
    assert len(ids) == 1 and recorded.messages
    results = [deliver_next(service, recorded) for _ in list(recorded.messages)]
    assert results[0] == "delivered" and set(results[1:]) <= {None} and len(recorded.posts) == 1
    body, headers, _ = recorded.posts[0]
    event = signed_by(secret, body, headers)
    assert event["type"] == "session.completed" and event["data"]["session_id"] == session.session_id
    assert service.record_final(session) == ids.pop() and recorded.messages == []  # sent: never again
    [delivery] = service.deliveries(OWNER, session.session_id).items
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)


def test_failures_are_retried_on_the_schedule_with_the_same_id_and_fresh_signatures(world: Any) -> None:
    service, recorded, clock, state = world
    secret = service.put_endpoint(OWNER, URL).secret
    service.record_final(completed(clock, state["sessions"]))
    recorded.plan = [500, 503, 500]
    first = recorded.messages[0][0]

    assert deliver_next(service, recorded) == "retrying"
    retry, delay = recorded.messages[0]
    assert retry.attempt == 2 and SCHEDULE[0] <= delay <= SCHEDULE[0] * 1.1 + 1
    assert service.attempt(first) is None  # SQS delivered attempt 1 twice: nothing is sent again
    clock.advance(delay)
    assert deliver_next(service, recorded) == "retrying"
    _, delay = recorded.messages[0]
    assert SCHEDULE[1] <= delay <= SCHEDULE[1] * 1.1 + 1
    clock.advance(delay)
    assert deliver_next(service, recorded) == "exhausted"  # the schedule's two retries were the last
    assert recorded.messages == [] and len(recorded.posts) == 3
    assert len({h["webhook-id"] for _, h, _ in recorded.posts}) == 1
    assert len({h["webhook-signature"] for _, h, _ in recorded.posts}) == 3  # a fresh timestamp each
    assert all(signed_by(secret, body, headers) for body, headers, _ in recorded.posts)

    # Redeliver: one more attempt of the same delivery.
    delivery_id = first.delivery_id
    assert service.redeliver(OWNER, delivery_id).delivery_id == delivery_id
    assert deliver_next(service, recorded) == "delivered"
    [delivery] = service.deliveries(OWNER, None).items
    assert (delivery.status, delivery.attempts) == ("delivered", 4)


def test_410_disables_the_endpoint_and_a_test_event_is_then_refused(world: Any) -> None:
    service, recorded, clock, state = world
    service.put_endpoint(OWNER, URL)
    service.send_test(OWNER)
    recorded.plan = [410]
    assert deliver_next(service, recorded) == "exhausted"
    assert service.endpoint(OWNER).enabled is False
    with pytest.raises(ActionNotAllowed):
        service.send_test(OWNER)
    assert service.record_final(completed(clock, state["sessions"])) is None  # disabled: nothing recorded
    assert service.put_endpoint(OWNER, URL).enabled is True


def test_the_address_is_checked_again_at_every_attempt(world: Any) -> None:
    service, recorded, clock, state = world
    service.put_endpoint(OWNER, URL)
    service.record_final(completed(clock, state["sessions"]))
    state["resolver"]["answer"] = answering("169.254.169.254")  # DNS now points at the metadata service
    assert deliver_next(service, recorded) == "retrying" and recorded.posts == []
    [delivery] = service.deliveries(OWNER, None).items
    assert delivery.last_status_code is None
    stored = json.dumps(service.deliveries(OWNER, None).model_dump())
    assert "169.254" not in stored


def test_deliveries_spread_over_partitions_and_list_newest_first_across_them(world: Any) -> None:
    service, _, clock, _ = world
    service.put_endpoint(OWNER, URL)
    queued = []
    for _ in range(12):
        queued.append(service.send_test(OWNER).delivery_id)
        clock.advance(1)
    client = boto3.client("dynamodb")
    partitions = {item["owner"]["S"] for item in client.scan(TableName=TABLE)["Items"]}
    assert OWNER in partitions and len(partitions - {OWNER}) >= 4  # the endpoint, then delivery shards
    listed = service.deliveries(OWNER, None).items
    assert [d.delivery_id for d in listed] == queued[::-1]
    assert len(service._store.deliveries_page(OWNER, None, limit=5, after=None)[0]) == 5
    assert service.deliveries("another-key", None).items == []  # shards are per owner
