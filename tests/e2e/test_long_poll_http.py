"""Long-poll reads: `GET /v1/sessions/{id}?wait=N` answers as soon as the session is final."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

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
