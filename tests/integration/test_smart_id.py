"""Smart-ID through Dokobit and MarkSign: the real handlers and ASL (Express) under moto, the sandboxes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Served
from tests.integration.conftest import Deployed

METHODS = ["dokobit-smart-id", "marksign-smart-id"]


@pytest.mark.parametrize("method", METHODS)
def test_a_smart_id_login_is_polled_to_its_identity(
    method: str, deployed: Deployed, dokobit: Served, marksign: Served
) -> None:
    started = deployed.start({"country": "EE", "personal_code": "40504040001", "reference": "o-1"}, method)

    assert started["status"] == 201, started
    session = started["body"]
    assert session["status"] == "pending" and session["reference"] == "o-1"
    assert session["next_action"]["type"] == "show_control_code"
    assert session["next_action"]["control_code"].isdigit()
    execution = deployed.execution(session["session_id"])
    assert execution["status"] == "SUCCEEDED"
    assert set(json.loads(execution["input"])) == {"session_id", "poll_function", "poll"}
    done = deployed.session(session["session_id"])
    assert done["status"] == "completed", done
    identity = done["identity"]
    assert (identity["country"], identity["personal_code"]) == ("EE", "40504040001")
    assert identity["subject"] == "PNOEE-40504040001" and identity["date_of_birth"] == "1905-04-04"
    assert identity["certificate"]["subject"]["serial_number"] == "PNOEE-40504040001"
    assert ("peps" in identity["evidence"]) == (method == "marksign-smart-id")
    sandbox = dokobit if method.startswith("dokobit") else marksign
    assert sandbox.app.stats()["calls"]["smartid_status"] >= 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("country", "code", "status", "error"),
    [
        ("EE", "30403039917", "failed", "USER_CANCELLED"),
        ("EE", "30403039983", "expired", "TIMEOUT"),
        ("EE", "49901010040", "failed", "ACCOUNT_UNUSABLE"),
    ],
)
def test_a_refusal_while_polling_ends_the_session_with_its_code(
    method: str, country: str, code: str, status: str, error: str, deployed: Deployed
) -> None:
    session_id = deployed.start({"country": country, "personal_code": code}, method)["body"]["session_id"]
    deployed.execution(session_id)
    done = deployed.session(session_id)
    assert (done["status"], done["error"]["code"]) == (status, error)
    assert done["identity"] is None and done["next_action"] is None


@pytest.mark.parametrize("method", METHODS)
def test_no_smart_id_account_is_a_failed_session_at_start(method: str, deployed: Deployed) -> None:
    started = deployed.start({"country": "EE", "personal_code": "39901010038"}, method)
    assert started["status"] == 201
    assert started["body"]["status"] == "failed"
    assert started["body"]["error"]["code"] == "NOT_SMART_ID_USER"


@pytest.mark.parametrize("method", METHODS)
def test_a_code_of_another_country_is_422_and_calls_no_provider(
    method: str, deployed: Deployed, dokobit: Served, marksign: Served
) -> None:
    answer = deployed.start({"country": "LV", "personal_code": "40504040001"}, method)
    assert answer["status"] == 422
    assert [e["field"] for e in answer["body"]["errors"]] == ["personal_code"]
    assert "40504040001" not in json.dumps(answer["body"])
    assert dokobit.app.stats()["calls"].get("smartid_login", 0) == 0
    assert marksign.app.stats()["calls"].get("smartid_login", 0) == 0


def test_cancel_removes_the_marksign_smart_id_session(deployed: Deployed, marksign: Served) -> None:
    # a person who never answers: the cancel must reach MarkSign at the next poll
    session_id = deployed.start({"country": "EE", "personal_code": "30403039983"}, "marksign-smart-id")[
        "body"
    ]["session_id"]
    cancelled = deployed.api(
        "SessionCancelFunction", "DELETE", "/v1/sessions/{session_id}", session_id=session_id
    )
    assert cancelled["body"]["status"] == "cancelled"
    deployed.execution(session_id)
    assert marksign.app.stats()["calls"]["smartid_delete"] == 1
