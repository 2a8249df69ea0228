"""The bench's capacity arithmetic (local/bench/capacity.py) and its webhook receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from local.bench import capacity
from local.bench.capacity import CONCURRENCY, EXPRESS_STARTS, INVOCATIONS, Counts
from local.bench.webhook_receiver import WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def counts() -> Counts:
    # Given a session of 1 start (100 ms) and 3 polls (200 ms each) that read 1 RRU each
    return Counts(
        "m",
        10,
        "EXPRESS",
        seconds=9.0,
        polls=3.0,
        api_requests=1.0,
        client_reads=0.0,
        start_executions=1.0,
        state_transitions=10.0,
        secrets=0.0,
        sqs=1.0,
        invocations={"start": 1.0, "poll": 3.0},
        billed_ms={"start": 100, "poll": 200},
        units={"sessions RRU": 3.0, "sessions WRU": 2.0},
        poll_units={"sessions RRU": 1.0},
        hot_keys={"webhooks WCU": 3.0},
        poll_function="poll",
        reader_rru=2.0,
    )


def test_the_tightest_quota_binds() -> None:
    # When the per-session use is divided into the default quotas
    rate, quota = capacity.binding(counts().usage())
    # Then one API key's webhook partition (1,000 WCU / 3) binds before Lambda (1,000 / 0.7 s)
    assert (rate, quota) == (pytest.approx(1000 / 3), "DynamoDB one webhooks WCU/s")


def test_polls_are_split_from_the_fixed_part() -> None:
    c = counts()
    fixed, poll = c.fixed(), c.poll()
    assert fixed[CONCURRENCY] == pytest.approx(0.1) and poll[CONCURRENCY] == pytest.approx(0.2)
    assert fixed[INVOCATIONS] == pytest.approx(1.0) and fixed[EXPRESS_STARTS] == 1.0
    # A pending session polled every 3 s for 120 s: a third of a poll per second plus 1/120 of the rest
    pending = capacity.pending_usage(c, 3.0, 120.0)
    assert pending[CONCURRENCY] == pytest.approx(0.2 / 3 + 0.1 / 120)
    # A long-polling client holds a worker for every second it waits
    need = capacity.need(c, 0, 100, 3.0, readers=True)
    assert need[CONCURRENCY] == pytest.approx(100 * 0.2 / 3 + 100)


def test_receiver_verifies_and_records() -> None:
    receiver = WebhookReceiver(secret=SECRET, failing={"webhook.test"})
    url = receiver.start()
    try:
        data = {"session_id": "s", "updated_at": "2026-12-02T10:00:00Z"}
        body = json.dumps({"type": "session.completed", "timestamp": "t", "data": data})
        now = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp()))}
        headers["webhook-signature"] = Webhook(SECRET).sign("msg_1", now, body)
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 204
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        assert requests.post(url, data=body, headers=forged, timeout=5).status_code == 400
        test = body.replace("session.completed", "webhook.test")
        headers["webhook-signature"] = Webhook(SECRET).sign("msg_1", now, test)
        assert requests.post(url, data=test, headers=headers, timeout=5).status_code == 503
    finally:
        receiver.stop()
    first, forged_one, failed = receiver.taken()
    assert first.verified and first.session_id == "s" and first.updated_at == 1796205600.0
    assert not forged_one.verified and failed.answered == 503
