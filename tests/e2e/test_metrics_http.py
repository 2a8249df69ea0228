"""`make run` prints the broker's metrics as the Embedded Metric Format lines Lambda would ship to
CloudWatch: one line per session outcome, with the method (and the failure code) as dimensions."""

from __future__ import annotations

import time

from tests.e2e.conftest import Stack, launch, stop

METHOD = "dokobit-mobile-id"
OK = {"phone": "+37200000766", "personal_code": "60001019906"}
REFUSED = {"phone": "+37200000266", "personal_code": "60001019939"}
NEVER = {"phone": "+37213100266", "personal_code": "60001019961"}


def lines_for(stack: Stack, metric: str, session_count: int, **dimensions: str) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        found = [
            line
            for line in stack.metrics(metric)
            if all(line.get(name) == value for name, value in dimensions.items())
        ]
        if len(found) >= session_count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_every_session_outcome_is_a_metric_line_of_its_method(stack: Stack) -> None:
    before = {
        name: len(lines_for(stack, name, 0, method=METHOD))
        for name in (
            "SessionsStarted",
            "SessionsCompleted",
            "SessionsFailed",
            "SessionsCancelled",
            "SessionsExpired",
        )
    }
    completed = stack.start(METHOD, OK).json()["session_id"]
    stack.start(METHOD, REFUSED)
    cancelled = stack.start(METHOD, NEVER).json()["session_id"]
    stack.http.delete(f"{stack.url}/v1/sessions/{cancelled}", timeout=30)
    expired = stack.start(METHOD, NEVER).json()["session_id"]
    assert stack.wait_final(completed)["status"] == "completed"
    assert stack.wait_final(expired)["status"] == "expired"

    for name, added in (
        ("SessionsStarted", 4),
        ("SessionsCompleted", 1),
        ("SessionsFailed", 1),
        ("SessionsCancelled", 1),
        ("SessionsExpired", 1),
    ):
        lines = lines_for(stack, name, before[name] + added, method=METHOD)
        assert len(lines) == before[name] + added, name
        directive = lines[-1]["_aws"]["CloudWatchMetrics"][0]
        assert ["service"] in directive["Dimensions"] and ["service", "method"] in directive["Dimensions"]
        assert directive["Namespace"] == "eid-broker/local"  # make run deploys stage "local"
    [refusal] = [
        line
        for line in lines_for(stack, "SessionsFailed", 1, method=METHOD)
        if line.get("code") == "NOT_MOBILE_ID_USER"
    ][-1:]
    assert ["service", "method", "code"] in refusal["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert any(line.get("provider") == "dokobit" for line in stack.metrics("ProviderLatency"))


def test_make_run_runs_the_retention_schedule_and_erases_what_is_due() -> None:
    """The template's hourly Schedule, run every second (LOCAL_SCHEDULE_SECONDS) with retention 0 days."""
    own = launch(LOCAL_SCHEDULE_SECONDS="1", PERSONAL_DATA_RETENTION_DAYS="0")
    try:
        session_id = own.start(METHOD, OK).json()["session_id"]
        assert own.wait_final(session_id)["status"] == "completed"
        deadline = time.monotonic() + 15
        while (session := own.get(session_id).json())["erased_at"] is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert session["identity"] is None and session["erased_at"] and session["status"] == "completed"
        assert lines_for(own, "SessionsErased", 1, trigger="retention")
    finally:
        stop(own)
