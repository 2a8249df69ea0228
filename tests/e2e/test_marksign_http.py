"""MarkSign mobile-ID beside Dokobit: same API, same state machine, its own client and sandbox."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
METHOD = "marksign-mobile-id"


def marksign_calls(stack: Stack) -> dict[str, int]:
    return stack.stats()["sandboxes"]["marksign"]["calls"]


def test_a_marksign_login_completes_with_sanctions_and_peps_evidence(stack: Stack) -> None:
    started = stack.start(
        METHOD, {"phone": "+37269000466", "personal_code": "39001010011", "reference": "r-1"}
    )
    assert started.status_code == 201, started.text
    session = started.json()
    assert session["method"] == METHOD and session["next_action"]["type"] == "show_control_code"

    final = stack.wait_final(session["session_id"])

    assert final["status"] == "completed"
    identity = final["identity"]
    assert (identity["country"], identity["personal_code"]) == ("EE", "39001010011")
    assert identity["date_of_birth"] == "1990-01-01" and identity["subject"] == "PNOEE-39001010011"
    assert identity["certificate"]["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert identity["certificate"]["subject"]["serial_number"] == "PNOEE-39001010011"
    assert identity["evidence"]["peps"][0]["position"] == "Member of Parliament"
    assert identity["evidence"]["sanctions"][0]["list"] == "EU consolidated"


@pytest.mark.parametrize(
    ("phone", "code", "status", "error_code", "provider_code"),
    [
        ("+37269000366", "60001017705", "completed", None, None),
        ("+37269000566", "49001010012", "failed", "NOT_MOBILE_ID_USER", "40401"),
        ("+37269000866", "37001010037", "failed", "PHONE_UNREACHABLE", "40801"),
        ("+37269001066", "36001010049", "failed", "PROVIDER_MISCONFIGURED", "50003"),
        ("+37269000666", "38001010020", "failed", "USER_CANCELLED", "40020"),
        ("+37269000766", "48001010021", "expired", "TIMEOUT", "40021"),
        ("+37269001166", "46001010049", "expired", "TIMEOUT", None),
        ("+37269001266", "35001010058", "failed", "IDENTITY_MISMATCH", None),
    ],
)
def test_every_marksign_persona_ends_in_its_documented_state(
    stack: Stack, phone: str, code: str, status: str, error_code: str | None, provider_code: str | None
) -> None:
    started = stack.start(METHOD, {"phone": phone, "personal_code": code})
    assert started.status_code == 201
    final = stack.wait_final(started.json()["session_id"])
    assert final["status"] == status
    if error_code is None:
        assert final["identity"]["personal_code"] == code
    else:
        assert (final["error"]["code"], final["error"]["provider_code"]) == (error_code, provider_code)
        assert final["identity"] is None


def test_an_outage_is_503_and_bad_input_never_reaches_marksign(stack: Stack) -> None:
    before = marksign_calls(stack)["login"]
    outage = stack.start(METHOD, {"phone": "+37269000966", "personal_code": "47001010030"})
    assert outage.status_code == 503 and outage.json()["code"] == "PROVIDER_UNAVAILABLE"
    invalid = stack.start(METHOD, {"phone": "+37269000966", "personal_code": "47001010031"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "personal_code"
    assert marksign_calls(stack)["login"] == before + 1


def test_cancel_also_removes_the_session_at_marksign(stack: Stack) -> None:
    session_id = stack.start(METHOD, {"phone": "+37269001166", "personal_code": "46001010049"}).json()[
        "session_id"
    ]
    deleted = marksign_calls(stack)["delete"]
    assert (
        stack.http.delete(f"{stack.url}/v1/sessions/{session_id}", timeout=10).json()["status"] == "cancelled"
    )
    deadline = time.monotonic() + 10
    while marksign_calls(stack)["delete"] == deleted and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marksign_calls(stack)["delete"] == deleted + 1
    assert stack.get(session_id).json()["status"] == "cancelled"


def test_the_marksign_token_is_in_no_log_line(stack: Stack) -> None:
    stack.wait_final(
        stack.start(METHOD, {"phone": "+37269000366", "personal_code": "60001017705"}).json()["session_id"]
    )
    ready = next(i for i, line in enumerate(stack.output) if "eid-broker is ready on" in line)
    logs = "\n".join(stack.output[ready + 1 :])
    for secret in ("sandbox-marksign-token", "+37269000366", "60001017705", "TESTNUMBER"):
        assert secret not in logs
