"""Outbound webhooks through the real local stack: the sessions stream, the queue and the sender run
as `make run` runs them, and a receiver on loopback verifies each delivery with `standardwebhooks`."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from tests import wiring
from tests.e2e.conftest import Stack, launch, stop

KEY_A, KEY_B = "hooks-a-key", "hooks-b-key"
DOKOBIT_OK = {"phone": "+37200000766", "personal_code": "60001019906"}
OTP_TTL = "30"


class Receiver:
    """A loopback webhook receiver that answers each POST with the next planned status (then 204)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.plan: list[int] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                self.send_response(receiver.plan.pop(0) if receiver.plan else 204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [r for r in self.received if json.loads(r["body"])["type"] == event_type]

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.of_type(event_type)) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(
            f"{count} x {event_type} not received in {timeout} s: {len(self.received)} in all"
        )


@pytest.fixture(scope="module")
def hooks() -> Iterator[Stack]:
    # The shortest OTP lifetime the template allows: a mosip-otp session's expiry watch (an execution named
    # after the session) wakes within the test that waits for it to end.
    running = launch(
        LOCAL_API_KEY=f"{KEY_A},{KEY_B}", WEBHOOK_RETRY_SCHEDULE="1,1", MOSIP_OTP_TTL_SECONDS=OTP_TTL
    )
    running.http.headers["x-api-key"] = KEY_A
    yield running
    stop(running)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def put_endpoint(stack: Stack, url: str) -> requests.Response:
    return stack.http.put(f"{stack.url}/v1/webhook-endpoint", json={"url": url}, timeout=30)


def verified(secret: str, delivery: dict[str, Any]) -> dict[str, Any]:
    return Webhook(secret).verify(delivery["body"], delivery["headers"])


def test_a_completed_session_pushes_one_signed_event_that_matches_the_session(
    hooks: Stack, receiver: Receiver
) -> None:
    hooks.http.delete(f"{hooks.url}/v1/webhook-endpoint", timeout=30)
    created = put_endpoint(hooks, receiver.url)
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    again = put_endpoint(hooks, receiver.url).json()
    assert again["secret"] is None and again["enabled"] is True
    shown = hooks.http.get(f"{hooks.url}/v1/webhook-endpoint", timeout=30).json()
    assert "secret" not in shown or shown["secret"] is None
    # Another API key has no endpoint, and sees none of A's.
    other = requests.get(f"{hooks.url}/v1/webhook-endpoint", headers={"x-api-key": KEY_B}, timeout=30)
    assert other.status_code == 404

    session = hooks.start("dokobit-mobile-id", DOKOBIT_OK).json()
    final = hooks.wait_final(session["session_id"])
    [event] = receiver.wait_for("session.completed")
    document = verified(secret, event)
    assert document["data"] == final
    assert event["headers"]["webhook-id"].startswith("msg_")
    hooks.settle(session["session_id"])  # nothing more arrives: one event per session
    assert len(receiver.of_type("session.completed")) == 1
    listed = hooks.http.get(
        f"{hooks.url}/v1/webhook-deliveries", params={"session_id": session["session_id"]}, timeout=30
    ).json()["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in listed] == [("delivered", 1, 204)]
    assert listed[0]["delivery_id"] == event["headers"]["webhook-id"]
    # B's delivery log is empty, and B cannot redeliver A's delivery.
    assert requests.get(
        f"{hooks.url}/v1/webhook-deliveries", headers={"x-api-key": KEY_B}, timeout=30
    ).json() == {"items": [], "next_cursor": None}
    foreign = requests.post(
        f"{hooks.url}/v1/webhook-deliveries/{listed[0]['delivery_id']}/redeliver",
        headers={"x-api-key": KEY_B},
        timeout=30,
    )
    assert foreign.status_code == 404
    # A malformed delivery id is not found (never a DynamoDB key error).
    for malformed in ("msg_x", "m" * 2000):
        answer = hooks.http.post(f"{hooks.url}/v1/webhook-deliveries/{malformed}/redeliver", timeout=30)
        assert answer.status_code == 404, answer.text


def test_a_failing_receiver_gets_retries_with_the_same_id_then_redeliver_and_410(
    hooks: Stack, receiver: Receiver
) -> None:
    secret = None
    hooks.http.delete(f"{hooks.url}/v1/webhook-endpoint", timeout=30)
    secret = put_endpoint(hooks, receiver.url).json()["secret"]
    receiver.plan = [500, 503]
    queued = hooks.http.post(f"{hooks.url}/v1/webhook-endpoint/test", timeout=30)
    assert queued.status_code == 202
    attempts = receiver.wait_for("webhook.test", count=3)
    assert {a["headers"]["webhook-id"] for a in attempts} == {queued.json()["delivery_id"]}
    assert all(verified(secret, a)["type"] == "webhook.test" for a in attempts)
    assert len({a["headers"]["webhook-signature"] for a in attempts}) >= 2  # signed afresh per attempt
    hooks.settle()  # the last attempt's outcome is recorded
    [delivery] = [
        d
        for d in hooks.http.get(f"{hooks.url}/v1/webhook-deliveries", timeout=30).json()["items"]
        if d["delivery_id"] == queued.json()["delivery_id"]
    ]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 204)
    statuses = [line["status"] for line in hooks.metrics("WebhookAttempts")]
    assert statuses.count("retrying") >= 2 and "delivered" in statuses

    # Rotation: both secrets sign for 24 h.
    rotated = hooks.http.post(f"{hooks.url}/v1/webhook-endpoint/rotate-secret", timeout=30).json()["secret"]
    redelivered = hooks.http.post(
        f"{hooks.url}/v1/webhook-deliveries/{delivery['delivery_id']}/redeliver", timeout=30
    )
    assert redelivered.status_code == 202
    fourth = receiver.wait_for("webhook.test", count=4)[-1]
    assert len(fourth["headers"]["webhook-signature"].split(" ")) == 2
    assert verified(rotated, fourth) and verified(secret, fourth)

    # 410 disables the endpoint: no more deliveries until it is PUT again.
    receiver.plan = [410]
    hooks.http.post(f"{hooks.url}/v1/webhook-endpoint/test", timeout=30)
    receiver.wait_for("webhook.test", count=5)
    hooks.settle()  # the 410 is recorded
    assert hooks.http.get(f"{hooks.url}/v1/webhook-endpoint", timeout=30).json()["enabled"] is False
    assert hooks.http.post(f"{hooks.url}/v1/webhook-endpoint/test", timeout=30).status_code == 409
    assert put_endpoint(hooks, receiver.url).json()["enabled"] is True


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hooks",
        "https://10.0.0.1/hooks",
        "https://169.254.169.254/latest",
        "ftp://127.0.0.1/",
    ],
)
def test_urls_that_are_not_public_https_are_refused(hooks: Stack, url: str) -> None:
    answer = put_endpoint(hooks, url)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "url"


def test_every_method_pushes_exactly_one_signed_event_per_session(hooks: Stack, receiver: Receiver) -> None:
    """One session of each registered method, with its first sandbox persona: completed or refused at
    the start (the stream's INSERT), or cancelled while pending (its MODIFY)."""
    from local.demo import personas

    hooks.http.delete(f"{hooks.url}/v1/webhook-endpoint", timeout=30)
    secret = put_endpoint(hooks, receiver.url).json()["secret"]
    sessions = {}
    for entry in personas({"dokobit", "marksign", "eeid", "mobbid", "mosip"}):
        body = dict(entry["personas"][0]["body"])
        if body.get("return_url") == "RETURN_URL":
            body["return_url"] = f"{hooks.url}/demo"
        started = hooks.start(entry["method"], body)
        assert started.status_code == 201, (entry["method"], started.text)
        session = started.json()
        if session["status"] == "pending":
            hooks.http.delete(f"{hooks.url}/v1/sessions/{session['session_id']}", timeout=30)
        sessions[session["session_id"]] = entry["method"]
    assert sorted(sessions.values()) == sorted(wiring.methods())

    def events() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for delivery in receiver.received:
            document = json.loads(delivery["body"])
            if document["type"].startswith("session.") and document["data"]["session_id"] in sessions:
                found.setdefault(document["data"]["session_id"], []).append(delivery)
        return found

    deadline = time.monotonic() + 30
    while len(events()) < len(sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    # And nothing more arrives, not even once the cancelled mosip-otp session's expiry watch has woken.
    hooks.settle(*sessions, timeout=float(OTP_TTL) + 30)
    pushed = events()
    assert set(pushed) == set(sessions)
    for session_id, deliveries in pushed.items():
        [delivery] = deliveries
        document = verified(secret, delivery)
        final = hooks.get(session_id).json()
        assert document["type"] == f"session.{final['status']}" and document["data"] == final, sessions[
            session_id
        ]
