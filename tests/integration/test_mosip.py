"""MOSIP through the real handlers and the MOSIP sandbox over HTTP (synchronous: no state machine)."""

from __future__ import annotations

import json
from datetime import datetime

import boto3

from tests.conftest import Served
from tests.integration.conftest import Deployed

OTP = "mosip-otp"


def start_otp(deployed: Deployed, user_id: str = "alice", **extra: object) -> dict:
    body = {"user_id": user_id, "user_id_type": "USERID", "channels": ["email"], **extra}
    return deployed.start(body, OTP)


def submit(deployed: Deployed, session_id: str, otp: str) -> dict:
    return deployed.api(
        "SessionOtpFunction", "POST", "/v1/sessions/{session_id}/otp", {"otp": otp}, session_id=session_id
    )


def stored_items() -> str:
    client = boto3.client("dynamodb", region_name="eu-north-1")
    tables = [t for t in client.list_tables()["TableNames"] if "Sessions" in t or "Idempotency" in t]
    return json.dumps([client.scan(TableName=t)["Items"] for t in tables])


def test_the_right_otp_completes_and_hands_the_token_over_once(deployed: Deployed, mosip: Served) -> None:
    started = start_otp(deployed)
    assert started["status"] == 201
    session = started["body"]
    assert session["status"] == "pending"
    action = session["next_action"]
    assert action == {
        "type": "enter_otp",
        "channels": ["email"],
        "attempts_left": 3,
        "expires_at": action["expires_at"],
    }
    otp = mosip.app.last_otp("alice")
    assert otp and any(otp in line for line in mosip.app.otp_lines)

    answer = submit(deployed, session["session_id"], otp)

    assert answer["status"] == 200
    assert answer["body"]["status"] == "completed" and answer["body"]["identity"]["subject"] == "alice"
    credentials = answer["body"]["credentials"]
    assert credentials["type"] == "mosip_auth_token" and credentials["token"].count(".") == 2
    assert datetime.fromisoformat(credentials["expires_at"].replace("Z", "+00:00"))
    # never stored, never returned again
    assert credentials["token"] not in stored_items()
    assert "credentials" not in deployed.session(session["session_id"])
    assert submit(deployed, session["session_id"], otp)["status"] == 409


def test_three_wrong_otps_end_the_session(deployed: Deployed, mosip: Served) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]
    wrong = "000000" if mosip.app.last_otp("alice") != "000000" else "111112"
    first = submit(deployed, session_id, wrong)["body"]
    assert first["status"] == "pending" and first["next_action"]["attempts_left"] == 2
    assert submit(deployed, session_id, wrong)["body"]["next_action"]["attempts_left"] == 1
    third = submit(deployed, session_id, wrong)["body"]
    assert third["status"] == "failed" and third["error"]["code"] == "OTP_ATTEMPTS_EXHAUSTED"
    assert submit(deployed, session_id, mosip.app.last_otp("alice") or "123456")["status"] == 409


def test_the_broker_enforces_the_otp_lifetime_itself(deployed: Deployed, mosip: Served, monkeypatch) -> None:
    session = start_otp(deployed)["body"]
    otp = mosip.app.last_otp("alice")
    from eid_broker.methods import mosip as mosip_method

    later = datetime.fromisoformat(session["expires_at"].replace("Z", "+00:00"))
    monkeypatch.setattr(
        mosip_method, "datetime", type("Later", (datetime,), {"now": classmethod(lambda cls, tz=None: later)})
    )
    answer = submit(deployed, session["session_id"], otp)["body"]
    assert answer["status"] == "expired" and answer["error"]["code"] == "OTP_EXPIRED"
    assert mosip.app.stats()["calls"]["useridOTP"] == 0  # refused without asking MOSIP


def test_bad_otp_format_is_422_and_uses_no_attempt(deployed: Deployed) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]
    assert submit(deployed, session_id, "12ab")["status"] == 422
    assert deployed.session(session_id)["next_action"]["attempts_left"] == 3


def test_unknown_user_and_bad_channel(deployed: Deployed, mosip: Served) -> None:
    unknown = start_otp(deployed, "nobody")
    assert unknown["status"] == 201 and unknown["body"]["error"]["code"] == "USER_NOT_FOUND"
    bad = deployed.start({"user_id": "alice", "user_id_type": "USERID", "channels": ["sms"]}, OTP)
    assert bad["status"] == 422 and bad["body"]["errors"][0]["field"].startswith("channels")
    assert mosip.app.stats()["calls"]["sendotp"] == 1


def test_password_login_completes_or_fails_at_once(deployed: Deployed) -> None:
    done = deployed.start({"username": "alice", "password": "alice-password"}, "mosip-password")
    assert done["status"] == 201 and done["body"]["status"] == "completed"
    token = done["body"]["credentials"]["token"]
    assert token not in stored_items()
    refused = deployed.start({"username": "alice", "password": "wrong"}, "mosip-password")
    assert refused["body"]["status"] == "failed" and refused["body"]["error"]["code"] == "INVALID_CREDENTIALS"
    assert "credentials" not in refused["body"]

    valid = deployed.api("MosipTokensFunction", "POST", "/v1/mosip/tokens/validate", {"token": token})["body"]
    assert valid == {"valid": True, "user_id": "alice", "roles": ["RESIDENT"]}
    assert (
        deployed.api("MosipTokensFunction", "POST", "/v1/mosip/tokens/invalidate", {"token": token})["status"]
        == 200
    )
    after = deployed.api("MosipTokensFunction", "POST", "/v1/mosip/tokens/validate", {"token": token})["body"]
    assert after == {"valid": False, "user_id": None, "roles": []}


def test_otp_manager_pass_through_reuses_the_service_token(deployed: Deployed, mosip: Served) -> None:
    generated = deployed.api("MosipOtpFunction", "POST", "/v1/mosip/otp/generate", {"key": "order-77"})[
        "body"
    ]
    assert generated["status"] == "GENERATION_SUCCESSFUL" and len(generated["otp"]) == 6
    wrong = deployed.api(
        "MosipOtpFunction", "POST", "/v1/mosip/otp/validate", {"key": "order-77", "otp": "000001"}
    )
    right = deployed.api(
        "MosipOtpFunction", "POST", "/v1/mosip/otp/validate", {"key": "order-77", "otp": generated["otp"]}
    )
    assert right["body"] == {"valid": True, "status": "VALIDATION_SUCCESSFUL"}
    assert wrong["body"]["valid"] is False
    assert mosip.app.stats()["calls"]["clientidsecretkey"] == 1


def test_an_otp_session_nobody_completes_expires_by_itself_unread(deployed: Deployed, monkeypatch) -> None:
    """The expiry watch (the Standard loop, one wait past the deadline) records OTP_EXPIRED and drops the
    provider reference without anyone reading the session; a short OTP lifetime keeps the test short."""
    from eid_broker import config

    for name, settings in list(deployed.settings.items()):
        if name.endswith(("mosip-otp-start", "mosip-otp-expire")):
            environ = {**settings._environ, "MOSIP_OTP_TTL_SECONDS": "2"}
            monkeypatch.setitem(deployed.settings, name, config.Settings.from_env(environ))
    session_id = start_otp(deployed)["body"]["session_id"]

    execution = deployed.execution(session_id, timeout=20, machine="EeidFallbackStateMachine")

    assert execution["status"] == "SUCCEEDED"
    client = boto3.client("dynamodb", region_name="eu-north-1")
    table = next(t for t in client.list_tables()["TableNames"] if "Sessions" in t)
    item = client.get_item(TableName=table, Key={"session_id": {"S": session_id}}, ConsistentRead=True)[
        "Item"
    ]
    assert item["status"]["S"] == "expired"
    assert item["error"]["M"]["code"]["S"] == "OTP_EXPIRED"
    assert "provider_ref" not in item and "next_action" not in item
    assert "erase_at" in item  # on the retention index from now on
    expired_at = datetime.fromisoformat(item["updated_at"]["S"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(item["expires_at"]["S"].replace("Z", "+00:00"))
    assert 0 <= (expired_at - deadline).total_seconds() < 30


def test_a_cancelled_otp_session_keeps_no_provider_reference(deployed: Deployed) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]
    answer = deployed.api(
        "SessionCancelFunction", "DELETE", "/v1/sessions/{session_id}", session_id=session_id
    )
    assert answer["status"] == 200 and answer["body"]["status"] == "cancelled"
    client = boto3.client("dynamodb", region_name="eu-north-1")
    table = next(t for t in client.list_tables()["TableNames"] if "Sessions" in t)
    item = client.get_item(TableName=table, Key={"session_id": {"S": session_id}}, ConsistentRead=True)[
        "Item"
    ]
    assert "provider_ref" not in item
