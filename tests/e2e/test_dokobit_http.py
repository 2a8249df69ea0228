"""A Dokobit Mobile-ID login over real HTTP: front door → Lambda workers → moto (real ASL) → sandbox."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
EE = {"phone": "+37200000766", "personal_code": "60001019906"}


def logins(stack: Stack) -> int:
    return stack.stats()["sandboxes"]["dokobit"]["calls"]["login"]


def test_a_new_user_sees_the_control_code_then_the_identity(stack: Stack) -> None:
    started = stack.start("dokobit-mobile-id", {**EE, "reference": "order-17"})
    assert started.status_code == 201, started.text
    session = started.json()
    assert session["status"] == "pending" and session["reference"] == "order-17"
    assert session["next_action"]["type"] == "show_control_code"
    assert len(session["next_action"]["control_code"]) == 4
    assert stack.get(session["session_id"]).json()["status"] == "pending"

    final = stack.wait_final(session["session_id"])

    assert final["status"] == "completed" and final["next_action"] is None and final["error"] is None
    identity = final["identity"]
    assert identity["country"] == "EE" and identity["personal_code"] == "60001019906"
    assert identity["given_name"] == "MARY ÄNN" and identity["surname"] == "O’CONNEŽ-ŠUSLIK TESTNUMBER"
    assert identity["date_of_birth"] == "2000-01-01" and identity["subject"] == "PNOEE-60001019906"
    assert identity["certificate"]["issuer"]["common_name"] == "TEST of ESTEID-SK 2015"
    assert identity["certificate"]["pem"].startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("phone", "code", "status", "error_code", "provider_code"),
    [
        ("+37060000666", "50001018865", "completed", None, None),
        ("+37200000466", "60001019994", "completed", None, None),
        ("+37207110066", "60001019947", "failed", "PHONE_UNREACHABLE", "7022"),
        ("+37201100266", "60001019950", "failed", "USER_CANCELLED", "7023"),
        ("+37201200266", "60001019972", "expired", "TIMEOUT", "6005"),
        ("+37213100266", "60001019961", "expired", "TIMEOUT", None),
    ],
)
def test_every_polled_persona_ends_in_its_documented_state(
    stack: Stack, phone: str, code: str, status: str, error_code: str | None, provider_code: str | None
) -> None:
    started = stack.start("dokobit-mobile-id", {"phone": phone, "personal_code": code})
    assert started.status_code == 201 and started.json()["status"] == "pending"
    final = stack.wait_final(started.json()["session_id"])
    assert final["status"] == status
    if error_code is None:
        assert final["identity"]["personal_code"] == code
    else:
        assert (final["error"]["code"], final["error"]["provider_code"]) == (error_code, provider_code)


def test_not_a_mobile_id_user_is_a_failed_session_on_record(stack: Stack) -> None:
    started = stack.start("dokobit-mobile-id", {"phone": "+37200000266", "personal_code": "60001019939"})
    assert started.status_code == 201
    session = started.json()
    assert session["status"] == "failed" and session["error"]["code"] == "NOT_MOBILE_ID_USER"
    assert session["error"]["provider"] == "dokobit" and session["error"]["provider_code"] == "6001"
    assert stack.get(session["session_id"]).json() == session


def test_a_provider_outage_is_503_with_retry_after_and_stores_nothing(stack: Stack) -> None:
    body = {"phone": "+37200000366", "personal_code": "60001019983"}
    first = stack.start("dokobit-mobile-id", body, **{"Idempotency-Key": "outage-1"})
    assert first.status_code == 503 and first.headers["Retry-After"].isdigit()
    assert first.headers["Content-Type"] == "application/problem+json"
    assert first.json()["code"] == "PROVIDER_UNAVAILABLE" and "session_id" not in first.json()
    # The key was not used up: a retry reaches the provider again
    before = logins(stack)
    assert stack.start("dokobit-mobile-id", body, **{"Idempotency-Key": "outage-1"}).status_code == 503
    assert logins(stack) == before + 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "+37200000766", "personal_code": "60001019907"}, "personal_code"),
        ({"phone": "+3725", "personal_code": "60001019906"}, "phone"),
        ({"phone": "+37060000666", "personal_code": "050405-10009"}, "personal_code"),  # LV code, LT phone
        ({"phone": "+37200000766", "personal_code": "60001019906", "extra": 1}, "extra"),
        ({"phone": 37200000766, "personal_code": "60001019906"}, "phone"),
        ({"personal_code": "60001019906"}, "phone"),
        ({"phone": "+37200000766", "personal_code": "60001019906", "reference": "x" * 129}, "reference"),
    ],
)
def test_bad_input_is_422_naming_the_field_with_no_provider_call(
    stack: Stack, body: dict, field: str
) -> None:
    before = logins(stack)
    response = stack.start("dokobit-mobile-id", body)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "INVALID_INPUT" and problem["status"] == 422
    assert field in {error["field"] for error in problem["errors"]}
    for value in ("60001019907", '+3725"', "60001019906"):
        assert value not in response.text
    assert logins(stack) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"\xff\xfe{not utf-8", "application/json", 400),
        (b'{"phone": "+37200000766"', "application/json", 400),
        (b"phone=+37200000766", "application/x-www-form-urlencoded", 415),
        (b'{"phone": "+37200000766"}', "text/plain", 415),
        (b"[1, 2, 3]", "application/json", 422),
        (b"{" + b'"a": "' + b"x" * 200_000 + b'"}', "application/json", 413),
        (b"", "application/json", 422),
    ],
)
def test_malformed_requests_get_problem_json_never_5xx(
    stack: Stack, data: bytes, content_type: str, status: int
) -> None:
    response = stack.http.post(
        f"{stack.url}/v1/sessions/dokobit-mobile-id", data=data, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "Traceback" not in response.text


def test_api_gateway_refusals_are_problem_json(stack: Stack) -> None:
    no_key = requests.get(f"{stack.url}/v1/sessions/abc", timeout=10)
    wrong_key = requests.get(f"{stack.url}/v1/sessions/abc", headers={"x-api-key": "nope"}, timeout=10)
    for response in (no_key, wrong_key):
        assert response.status_code == 403
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 403 and response.json()["code"] == "FORBIDDEN"
    unknown = stack.http.get(f"{stack.url}/v1/nothing-here", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["code"] == "ROUTE_NOT_FOUND"
    missing = stack.get("00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "SESSION_NOT_FOUND"


def test_idempotency_key_replays_the_first_session_and_refuses_another_body(stack: Stack) -> None:
    before = logins(stack)
    first = stack.start("dokobit-mobile-id", EE, **{"Idempotency-Key": "order-42"})
    again = stack.start("dokobit-mobile-id", EE, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 201
    assert again.json()["session_id"] == first.json()["session_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert logins(stack) == before + 1
    other = stack.start(
        "dokobit-mobile-id", {**EE, "reference": "different"}, **{"Idempotency-Key": "order-42"}
    )
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_cancel_stops_polling_and_final_sessions_cannot_be_cancelled(stack: Stack) -> None:
    started = stack.start("dokobit-mobile-id", {"phone": "+37213100266", "personal_code": "60001019961"})
    session_id = started.json()["session_id"]
    time.sleep(1.5)
    cancelled = stack.http.delete(f"{stack.url}/v1/sessions/{session_id}", timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert stack.http.delete(f"{stack.url}/v1/sessions/{session_id}", timeout=10).status_code == 200
    status_calls = _status_calls(stack)
    stack.settle(session_id)  # its poll loop has ended
    assert _status_calls(stack) <= status_calls + 1  # at most the poll already in flight
    assert stack.get(session_id).json()["status"] == "cancelled"

    done = stack.start("dokobit-mobile-id", EE).json()
    stack.wait_final(done["session_id"])
    refused = stack.http.delete(f"{stack.url}/v1/sessions/{done['session_id']}", timeout=10)
    assert refused.status_code == 409 and refused.json()["code"] == "ACTION_NOT_ALLOWED"


def _status_calls(stack: Stack) -> int:
    return stack.stats()["sandboxes"]["dokobit"]["calls"]["status"]


def test_nothing_secret_or_personal_reaches_the_logs(stack: Stack) -> None:
    stack.wait_final(stack.start("dokobit-mobile-id", EE).json()["session_id"])
    ready = next(i for i, line in enumerate(stack.output) if "eid-broker is ready on" in line)
    logs = "\n".join(stack.output[ready + 1 :])
    assert "dokobit-mobile-id" in logs or "session" in logs  # the functions did log
    for secret in ("sandbox-dokobit-token", "+37200000766", "60001019906", "37200000766", "O’CONNEŽ"):
        assert secret not in logs


def test_a_final_session_can_be_erased_and_a_pending_one_cannot(stack: Stack) -> None:
    session_id = stack.start("dokobit-mobile-id", EE).json()["session_id"]
    pending = stack.http.post(f"{stack.url}/v1/sessions/{session_id}/erase", timeout=30)
    assert pending.status_code == 409
    assert stack.wait_final(session_id)["identity"]["personal_code"] == "60001019906"

    erased = stack.http.post(f"{stack.url}/v1/sessions/{session_id}/erase", timeout=30)

    assert erased.status_code == 200 and erased.json()["identity"] is None and erased.json()["erased_at"]
    read = stack.get(session_id).json()
    assert read["status"] == "completed" and read["identity"] is None and read["erased_at"]
    assert "60001019906" not in json.dumps(read)
    deadline = time.monotonic() + 5  # the audit line, without personal data
    while "session erased" not in stack.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    audit = next(line for line in stack.logs().splitlines() if "session erased" in line)
    assert session_id in audit and "60001019906" not in audit
