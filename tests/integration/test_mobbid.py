"""MobbID through the real handlers, the real ASL (Express) and the MobbID sandbox over HTTP."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Served
from tests.integration.conftest import Deployed

METHOD = "mobbid-face"
RETURN = "https://integrator.example/back"


def start(deployed: Deployed, user_id: str, return_url: str = RETURN) -> dict:
    return deployed.start({"user_id": user_id, "return_url": return_url}, METHOD)


def finish(deployed: Deployed, user_id: str) -> dict:
    started = start(deployed, user_id)
    assert started["status"] == 201, started
    session_id = started["body"]["session_id"]
    assert deployed.execution(session_id)["status"] == "SUCCEEDED"
    return deployed.session(session_id)


def test_a_verified_face_completes_with_evidence(deployed: Deployed, mobbid: Served) -> None:
    started = start(deployed, "user-verified")
    assert started["body"]["next_action"]["type"] == "redirect"
    assert started["body"]["next_action"]["url"].startswith(f"{mobbid.url}/gateway/")
    session_id = started["body"]["session_id"]
    deployed.execution(session_id)
    final = deployed.session(session_id)
    assert final["status"] == "completed"
    identity = final["identity"]
    assert identity["subject"] == "user-verified" and identity["personal_code"] is None
    evidence = identity["evidence"]
    assert evidence["liveness"] == "FACE_PASSIVE_VIDEO" and evidence["operation_id"]
    assert evidence["scores"] == {"MATCHING": 0.97, "LIVENESS": 0.95, "IDENTITY_VERIFICATION": 0.96}
    assert evidence["resources"] == ["SAMPLE_SOURCE", "SELFIE"]


@pytest.mark.parametrize(
    ("user_id", "status", "code"),
    [
        ("user-not-same", "failed", "BIOMETRIC_MISMATCH"),
        ("user-error", "failed", "BIOMETRIC_ERROR"),
        ("user-never", "expired", "TIMEOUT"),
        ("user-flaky", "completed", None),
        ("user-slow", "completed", None),
    ],
)
def test_each_status_sequence_and_outcome(
    deployed: Deployed, user_id: str, status: str, code: str | None
) -> None:
    final = finish(deployed, user_id)
    assert final["status"] == status
    assert (final["error"] or {}).get("code") == code
    if user_id == "user-error":  # MobbID's free text (it may name the person) is never kept
        assert final["error"]["message"] == "MobbID could not complete the face verification."
        assert "face not detected" not in json.dumps(final).lower()


def test_one_authorization_serves_many_sessions_and_an_expired_jwt_is_renewed(
    deployed: Deployed, mobbid: Served
) -> None:
    for _ in range(3):
        assert start(deployed, "user-never")["status"] == 201
    assert mobbid.app.stats()["calls"]["authorization"] == 1
    mobbid.app.test_clock.offset = 3600  # the JWT (30 min) has expired at MobbID
    assert start(deployed, "user-never")["status"] == 201
    assert mobbid.app.stats()["calls"]["authorization"] == 2


@pytest.mark.parametrize(
    "return_url",
    ["http://integrator.example/back", "ftp://integrator.example", "not a url", "https://"],
)
def test_return_url_must_be_https_except_loopback(
    deployed: Deployed, mobbid: Served, return_url: str
) -> None:
    refused = start(deployed, "user-verified", return_url)
    assert refused["status"] == 422 and refused["body"]["errors"][0]["field"] == "return_url"
    assert mobbid.app.stats()["calls"]["create"] == 0
    assert start(deployed, "user-never", "http://127.0.0.1:8000/back")["status"] == 201


def test_a_banned_caller_is_503_and_nothing_is_stored(deployed: Deployed) -> None:
    refused = start(deployed, "user-banned")
    assert refused["status"] == 503 and refused["body"]["code"] == "PROVIDER_UNAVAILABLE"
