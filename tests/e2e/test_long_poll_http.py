"""Long-poll reads: `GET /v1/sessions/{id}?wait=N` answers as soon as the session is final."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import requests

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def test_a_long_poll_answers_within_a_second_of_the_outcome(stack: Stack) -> None:
    started = stack.start("dokobit-mobile-id", {"phone": "+37200000766", "personal_code": "60001019906"})
    session_id = started.json()["session_id"]
    began = time.monotonic()

    answer = stack.http.get(f"{stack.url}/v1/sessions/{session_id}", params={"wait": 20}, timeout=30)

    waited = time.monotonic() - began
    assert answer.status_code == 200 and answer.json()["status"] == "completed"
    completed_at = datetime.fromisoformat(answer.json()["updated_at"].replace("Z", "+00:00")).timestamp()
    assert time.time() - completed_at < 1.5 and waited < 20  # answered on the outcome, not at 20 s


@pytest.mark.parametrize("wait", ["26", "-1", "1.5", "soon"])
def test_a_wait_out_of_range_or_not_an_integer_is_422_naming_wait(stack: Stack, wait: str) -> None:
    answer = stack.http.get(
        f"{stack.url}/v1/sessions/0b6c8c1e-3f7e-4d7a-9d59-0d8f3c1a2b44", params={"wait": wait}, timeout=30
    )
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == ["wait"]


def test_every_answer_names_its_request_id_and_a_problem_body_carries_it_as_instance(stack: Stack) -> None:
    found = stack.get("0b6c8c1e-3f7e-4d7a-9d59-0d8f3c1a2b44")
    started = stack.start("dokobit-mobile-id", {"phone": "+37200000766", "personal_code": "60001019906"})

    assert found.status_code == 404 and started.status_code == 201
    for answer in (found, started):
        assert answer.headers["X-Request-Id"]
    assert found.json()["instance"] == f"urn:request:{found.headers['X-Request-Id']}"
    assert found.headers["X-Request-Id"] != started.headers["X-Request-Id"]
    # and the log lines of a request carry it as their correlation id (a forged webhook logs one)
    forged = requests.post(
        f"{stack.url}/eeid/webhooks/identification_requests",
        data=b'{"identification_request_id": "x", "client_id": "y"}',
        headers={"Content-Type": "application/json", "X-HMAC-Signature": "00"},
        timeout=30,
    )
    request_id = forged.headers["X-Request-Id"]
    assert forged.status_code == 401 and forged.json()["instance"] == f"urn:request:{request_id}"
    deadline = time.monotonic() + 5
    while request_id not in stack.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f'"correlation_id":"{request_id}"' in stack.logs().replace(" ", "")
