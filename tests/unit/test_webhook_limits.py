"""Webhook limits on moto: attempts that always end as recorded failures, the manual-call limit (no
race lets one call too many through), one page per listing with an owner-bound cursor, and the
previous secret removed after its overlap."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eid_broker.errors import InvalidInput, RateLimited
from eid_broker.webhooks import sending
from eid_broker.webhooks.base import Queue
from eid_broker.webhooks.manual_limit import ManualLimit
from eid_broker.webhooks.service import WebhookService
from eid_broker.webhooks.store import WebhookStore
from eid_broker.webhooks.transport import AttemptFailed
from local.emulator.atomic import atomic_items
from tests.conftest import create_table
from tests.unit.test_webhook_service import OWNER, SCHEDULE, TABLE, URL, Clock, Recorded, completed
from tests.unit.test_webhook_targets import answering

LIMITS = "counters"
KEY = b"test deployment key"


def digest(purpose: str, *parts: str) -> str:
    return hmac.new(KEY, "\x1f".join((purpose, *parts)).encode(), hashlib.sha256).hexdigest()


class Counting:
    """A DynamoDB client that records every query's request."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.queries: list[dict[str, Any]] = []

    def query(self, **request: Any) -> Any:
        self.queries.append(request)
        return self._client.query(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebhookService, Recorded, Clock, Any]]:
    atomic_items(monkeypatch.setattr)  # DynamoDB's atomic conditional writes, which moto lacks under threads
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE, "owner", "item")
        create_table(client, LIMITS, "counter_key")
        recorded, clock = Recorded(), Clock()
        sessions: dict[str, Any] = {}
        counting = Counting(client)
        service = WebhookService(
            WebhookStore(TABLE, counting),
            Queue("https://sqs/q", recorded),
            sessions.get,
            schedule=SCHEDULE,
            clock=clock,
            resolver=answering("93.184.216.34"),
            post=recorded.post,
            manual_limit=ManualLimit(
                LIMITS, client, limit=10, digest=digest, clock=lambda: clock().timestamp()
            ),
            cursor_key=digest,
        )
        yield service, recorded, clock, {"sessions": sessions, "client": client, "counting": counting}


def deliver_next(service: WebhookService, recorded: Recorded) -> Any:
    message, _ = recorded.messages.pop(0)
    return service.attempt(message)


def test_an_attempt_cut_off_is_a_failed_attempt_without_status_on_the_retry_schedule(world: Any) -> None:
    service, recorded, clock, state = world
    service.put_endpoint(OWNER, URL)
    service.record_final(completed(clock, state["sessions"]))
    timeouts: list[float] = []

    def trickled(target: Any, body: bytes, headers: dict[str, str], timeout: float) -> int:
        timeouts.append(timeout)
        raise AttemptFailed("timeout")

    service._post = trickled
    assert deliver_next(service, recorded) == "retrying"
    assert timeouts and timeouts[0] <= 15  # the whole attempt's limit, the name lookup taken from it
    [delivery] = service.deliveries(OWNER, None).items
    assert (delivery.last_status_code, delivery.last_error, delivery.attempts) == (None, "timeout", 1)
    next_message, delay = recorded.messages[0]
    assert next_message.attempt == 2 and SCHEDULE[0] <= delay <= SCHEDULE[0] * 1.1 + 1
    assert delivery.next_attempt_at is not None


def test_an_attempt_whose_function_was_stopped_is_recorded_failed_when_its_message_returns(
    world: Any,
) -> None:
    service, recorded, clock, state = world
    service.put_endpoint(OWNER, URL)
    service.record_final(completed(clock, state["sessions"]))
    message, _ = recorded.messages.pop(0)
    [fresh] = service.deliveries(OWNER, None).items
    assert fresh.status == "pending" and fresh.next_attempt_at is not None  # due: never pending without it

    def stopped(*_: Any, **__: Any) -> int:
        raise SystemExit("Lambda stopped the function")  # nothing after the claim is recorded

    service._post = stopped
    with pytest.raises(SystemExit):
        service.attempt(message)
    [running] = service.deliveries(OWNER, None).items
    assert running.status == "pending" and running.next_attempt_at is not None
    assert service.attempt(message) is None  # within the lease: a duplicate, not taken again
    clock.advance(sending.VISIBILITY_SECONDS)  # SQS shows the message again
    service._post = recorded.post
    assert service.attempt(message) == "retrying"
    [failed] = service.deliveries(OWNER, None).items
    assert (failed.attempts, failed.last_status_code, failed.last_error) == (1, None, "interrupted")
    assert recorded.posts == []  # the stopped attempt is not repeated at once: the schedule decides
    next_message, delay = recorded.messages[0]
    assert next_message.attempt == 2 and SCHEDULE[0] <= delay <= SCHEDULE[0] * 1.1 + 1
    clock.advance(delay)
    assert deliver_next(service, recorded) == "delivered"


def test_the_eleventh_manual_call_is_refused_and_queues_nothing(world: Any) -> None:
    service, recorded, clock, _ = world
    service.put_endpoint(OWNER, URL)
    for _ in range(10):
        service.send_test(OWNER)
        clock.advance(1)
    queued = len(recorded.messages)
    with pytest.raises(RateLimited) as refused:
        service.send_test(OWNER)
    assert refused.value.status == 429 and refused.value.code == "RATE_LIMITED"
    assert 1 <= refused.value.retry_after <= 51
    with pytest.raises(RateLimited):
        service.redeliver(OWNER, recorded.messages[0][0].delivery_id)  # redeliver counts against the same
    assert len(recorded.messages) == queued and len(service.deliveries(OWNER, None).items) == 10
    clock.advance(refused.value.retry_after)
    service.send_test(OWNER)  # the first call has left the window
    assert service.deliveries("other-key", None).items == []


def test_concurrent_manual_calls_never_pass_the_limit_and_the_counter_holds_no_key(world: Any) -> None:
    _, _, _, state = world
    limit = ManualLimit(LIMITS, state["client"], limit=10, digest=digest)
    outcomes: list[str] = []
    start = threading.Barrier(30)

    def call() -> None:
        start.wait()
        try:
            limit(OWNER)
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("429")

    threads = [threading.Thread(target=call) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 10 and outcomes.count("429") == 20
    stored = json.dumps(state["client"].scan(TableName=LIMITS)["Items"])
    assert OWNER not in stored and digest("webhook-manual-limit", OWNER) in stored


def test_the_listing_reads_one_page_at_a_time_with_an_owner_bound_cursor(world: Any) -> None:
    service, _, clock, state = world
    service.put_endpoint(OWNER, URL)
    service._manual_limit = lambda owner: None
    made = []
    for _ in range(25):
        made.append(service.send_test(OWNER).delivery_id)
        clock.advance(1)
    state["counting"].queries.clear()
    pages, cursor = [], None
    while True:
        page = service.deliveries(OWNER, None, limit=10, cursor=cursor)
        pages.append([d.delivery_id for d in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == made[::-1]
    assert all(0 < q["Limit"] <= 11 for q in state["counting"].queries)  # every query is bounded
    first = service.deliveries(OWNER, None, limit=10)
    with pytest.raises(InvalidInput) as other:
        service.deliveries("another-key", None, limit=10, cursor=first.next_cursor)
    assert other.value.errors == [{"field": "cursor", "message": other.value.errors[0]["message"]}]
    with pytest.raises(InvalidInput):
        service.deliveries(OWNER, None, limit=10, cursor=first.next_cursor[:-2] + "AA")
    with pytest.raises(InvalidInput):
        service.deliveries(OWNER, None, limit=10, cursor="not a cursor")


def test_a_sessions_deliveries_are_listed_with_a_bounded_filter(world: Any) -> None:
    service, _, clock, state = world
    service.put_endpoint(OWNER, URL)
    session = completed(clock, state["sessions"])
    service.record_final(session)
    state["counting"].queries.clear()
    page = service.deliveries(OWNER, session.session_id, limit=1)
    assert [d.session_id for d in page.items] == [session.session_id] and page.next_cursor is None
    assert all(q["Limit"] <= 2 for q in state["counting"].queries)


def test_the_previous_secret_is_removed_after_its_overlap(world: Any) -> None:
    service, recorded, clock, state = world
    first = service.put_endpoint(OWNER, URL).secret
    service.rotate_secret(OWNER)

    def stored() -> dict[str, Any]:
        return state["client"].get_item(
            TableName=TABLE, Key={"owner": {"S": OWNER}, "item": {"S": "endpoint"}}
        )["Item"]

    assert "previous_secret" in stored()
    clock.advance(23 * 3600)
    service.endpoint(OWNER)
    assert stored()["previous_secret"]["S"] == first  # still within its 24 h
    clock.advance(3600 + 1)
    service.send_test(OWNER)
    assert "previous_secret" not in stored() and "previous_until" not in stored()
    deliver_next(service, recorded)
    _, headers, _ = recorded.posts[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1


def test_a_put_whose_host_does_not_resolve_in_time_is_422_naming_url(world: Any) -> None:
    import time

    from eid_broker.webhooks import endpoints

    service, _, _, _ = world

    def slow(*_: Any, **__: Any) -> list[Any]:
        time.sleep(1)
        return []

    service._resolver = slow
    service._timeout = 0.2
    with pytest.raises(InvalidInput) as refused:
        service.put_endpoint(OWNER, URL)
    assert refused.value.errors[0]["field"] == "url" and "in time" in refused.value.errors[0]["message"]
    assert endpoints.PUT_LOOKUP_SECONDS <= 5


def test_redeliver_of_a_delivery_whose_attempt_runs_or_changed_meanwhile_queues_nothing(world: Any) -> None:
    from eid_broker.errors import ActionNotAllowed

    service, recorded, clock, state = world
    service.put_endpoint(OWNER, URL)
    service.record_final(completed(clock, state["sessions"]))
    message, _ = recorded.messages.pop(0)
    store = service._store
    assert store.claim(OWNER, message.delivery_id, 1, clock().timestamp(), 60, "x") is not None
    with pytest.raises(ActionNotAllowed):
        service.redeliver(OWNER, message.delivery_id)  # an attempt holds its claim
    assert recorded.messages == []
    seen = store.delivery(OWNER, message.delivery_id)
    clock.advance(61)  # the claim ran out; a second redeliver read `attempts` before a sender moved on
    assert not store.queue_again(OWNER, message.delivery_id, seen.attempts - 1, clock().timestamp(), "at")
    assert store.queue_again(OWNER, message.delivery_id, seen.attempts, clock().timestamp(), "at")
