"""Limits on outbound webhooks over HTTP on the local stack (`make run`): a receiver that trickles its
answer is cut off at WEBHOOK_TIMEOUT_SECONDS and the attempt is a recorded failure on the retry
schedule; manual calls beyond WEBHOOK_MANUAL_LIMIT are 429 and queue nothing; the listing pages."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Stack, launch, stop
from tests.e2e.test_webhooks_http import Receiver, put_endpoint

KEY_TRICKLE, KEY_MANUAL, KEY_OTHER = "limits-trickle-key", "limits-manual-key", "limits-other-key"
TIMEOUT = 2  # WEBHOOK_TIMEOUT_SECONDS of this stack
RETRY_AFTER = 60  # the schedule's first wait
GRACE = 1.0  # the watchdog's own delay and a loaded 2-core machine


class Trickler:
    """A loopback receiver that answers one byte every `every` seconds, for as long as it is let."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.requests: list[float] = []
        self.cut: list[float] = []  # when the broker closed each connection
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        data = b""
        with connection:
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            self.requests.append(time.monotonic())
            try:
                for byte in b"HTTP/1.1 200 OK\r\n" * 400:
                    connection.sendall(bytes([byte]))
                    time.sleep(self.every)
            except OSError:
                self.cut.append(time.monotonic())

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def limited() -> Iterator[Stack]:
    running = launch(
        LOCAL_API_KEY=f"{KEY_TRICKLE},{KEY_MANUAL},{KEY_OTHER}",
        WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT),
        WEBHOOK_RETRY_SCHEDULE=f"{RETRY_AFTER},{RETRY_AFTER}",
    )
    yield running
    stop(running)


def as_key(stack: Stack, key: str) -> Stack:
    stack.http.headers["x-api-key"] = key
    return stack


def listed(stack: Stack, **params: Any) -> requests.Response:
    return stack.http.get(f"{stack.url}/v1/webhook-deliveries", params=params, timeout=30)


def test_a_trickling_receiver_is_cut_off_and_the_attempt_is_a_failure_with_its_retry_scheduled(
    limited: Stack,
) -> None:
    trickler = Trickler()
    stack = as_key(limited, KEY_TRICKLE)
    try:
        assert put_endpoint(stack, trickler.url).status_code == 200
        queued = stack.http.post(f"{stack.url}/v1/webhook-endpoint/test", timeout=30)
        assert queued.status_code == 202
        delivery_id = queued.json()["delivery_id"]
        deadline = time.monotonic() + 30
        while not trickler.cut and time.monotonic() < deadline:
            time.sleep(0.05)
        assert trickler.requests and trickler.cut, "the trickling answer was never cut off"
        held = trickler.cut[0] - trickler.requests[0]
        assert held <= TIMEOUT + GRACE, f"the attempt held the receiver {held:.1f} s"

        while time.monotonic() < deadline:
            [delivery] = [d for d in listed(stack).json()["items"] if d["delivery_id"] == delivery_id]
            if delivery["status"] != "pending":
                break
            time.sleep(0.1)
        assert delivery["status"] == "retrying"
        assert (delivery["attempts"], delivery["last_status_code"], delivery["last_error"]) == (
            1,
            None,
            "timeout",
        )
        next_at = datetime.fromisoformat(delivery["next_attempt_at"].replace("Z", "+00:00"))
        wait = (next_at - datetime.now(UTC)).total_seconds()
        assert RETRY_AFTER - 15 <= wait <= RETRY_AFTER * 1.1 + 1  # on the schedule, not at once
        assert len(trickler.requests) == 1  # and not tried again meanwhile
    finally:
        trickler.close()


def test_the_eleventh_manual_call_is_429_and_queues_nothing(limited: Stack) -> None:
    receiver = Receiver()
    stack = as_key(limited, KEY_MANUAL)
    try:
        assert put_endpoint(stack, receiver.url).status_code == 200
        made = [stack.http.post(f"{stack.url}/v1/webhook-endpoint/test", timeout=30) for _ in range(10)]
        assert [m.status_code for m in made] == [202] * 10
        refused = stack.http.post(f"{stack.url}/v1/webhook-endpoint/test", timeout=30)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        again = stack.http.post(
            f"{stack.url}/v1/webhook-deliveries/{made[0].json()['delivery_id']}/redeliver", timeout=30
        )
        assert again.status_code == 429 and again.json()["code"] == "RATE_LIMITED"
        receiver.wait_for("webhook.test", count=10)
        time.sleep(2)
        assert len(receiver.of_type("webhook.test")) == 10  # nothing more was queued
        items = listed(stack).json()["items"]
        assert len(items) == 10 and {d["delivery_id"] for d in items} == {
            m.json()["delivery_id"] for m in made
        }

        # Another key has its own allowance.
        other = as_key(limited, KEY_OTHER)
        assert put_endpoint(other, receiver.url).status_code == 200
        assert other.http.post(f"{other.url}/v1/webhook-endpoint/test", timeout=30).status_code == 202
    finally:
        receiver.server.shutdown()


def test_the_listing_reads_pages_through_a_cursor_bound_to_the_key(limited: Stack) -> None:
    stack = as_key(limited, KEY_MANUAL)
    first = listed(stack, limit=4)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 4 and page["next_cursor"]
    seen = [d["delivery_id"] for d in page["items"]]
    while page["next_cursor"]:
        page = listed(stack, limit=4, cursor=page["next_cursor"]).json()
        seen += [d["delivery_id"] for d in page["items"]]
    assert len(seen) == len(set(seen)) == 10 and seen == sorted(seen, reverse=True)

    other = as_key(limited, KEY_OTHER)
    stolen = listed(other, limit=4, cursor=first.json()["next_cursor"])
    assert stolen.status_code == 422 and [e["field"] for e in stolen.json()["errors"]] == ["cursor"]
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}):
        answer = listed(other, **bad)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "limit"
