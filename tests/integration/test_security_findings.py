"""The security review's findings, each tried as the attacker would, on the real handlers."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import boto3
import pytest

from eid_broker.errors import ProviderUnavailable
from eid_broker.providers.mosip import MosipClient
from tests.conftest import Served
from tests.integration.conftest import Deployed
from tests.integration.test_mosip import start_otp, submit


def items(name_part: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="eu-north-1")
    tables = [t for t in client.list_tables()["TableNames"] if name_part in t]
    return [item for table in tables for item in client.scan(TableName=table)["Items"]]


def otp_manager(deployed: Deployed, action: str, body: dict, key_id: str = "it-key-id") -> dict:
    return deployed.api("MosipOtpFunction", "POST", f"/v1/mosip/otp/{action}", body, key_id=key_id)


def test_an_otp_manager_key_never_reaches_a_mosip_users_otp(deployed: Deployed, mosip: Served) -> None:
    session = start_otp(deployed, "alice")["body"]
    minted = otp_manager(deployed, "generate", {"key": "alice"})["body"]
    assert minted["status"] == "GENERATION_SUCCESSFUL"

    answer = submit(deployed, session["session_id"], minted["otp"])["body"]

    assert answer["status"] == "pending" and answer["next_action"]["attempts_left"] == 2
    assert "credentials" not in answer
    # what MOSIP stored is the caller's namespaced key, never the user id
    assert mosip.app.last_otp("alice") != minted["otp"]


def test_one_caller_cannot_use_another_callers_otp_manager_key(deployed: Deployed) -> None:
    minted = otp_manager(deployed, "generate", {"key": "order-1"}, key_id="key-a")["body"]
    check = {"key": "order-1", "otp": minted["otp"]}
    assert otp_manager(deployed, "validate", check, key_id="key-b")["body"]["valid"] is False
    assert otp_manager(deployed, "validate", check, key_id="key-a")["body"]["valid"] is True


@pytest.mark.parametrize("key", ["ab", "x" * 41, "alice bob", "a;b", "ключ"])
def test_otp_manager_keys_outside_the_allowed_set_are_422(deployed: Deployed, key: str) -> None:
    answer = otp_manager(deployed, "generate", {"key": key})
    assert answer["status"] == 422 and answer["body"]["errors"][0]["field"] == "key"


def test_user_ids_in_the_broker_namespace_are_refused(deployed: Deployed, mosip: Served) -> None:
    answer = start_otp(deployed, "eidb-0123456789-alice")
    assert answer["status"] == 422 and answer["body"]["errors"][0]["field"] == "user_id"
    assert mosip.app.stats()["calls"]["sendotp"] == 0


def test_ten_concurrent_wrong_otps_reach_mosip_at_most_three_times(deployed: Deployed, mosip: Served) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]
    barrier = threading.Barrier(10)
    answers: list[dict] = []

    def guess(n: int) -> None:
        barrier.wait()
        answers.append(submit(deployed, session_id, f"{900000 + n}"))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert mosip.app.stats()["calls"]["useridOTP"] <= 3
    assert sorted(a["status"] for a in answers).count(200) <= 3
    assert all(a["status"] in (200, 409) for a in answers), [a["status"] for a in answers]
    final = deployed.session(session_id)
    assert final["status"] == "failed" and final["error"]["code"] == "OTP_ATTEMPTS_EXHAUSTED"


def test_an_attempt_is_given_back_when_mosip_cannot_be_reached(
    deployed: Deployed, mosip: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]

    def unreachable(*args: object) -> None:
        raise ProviderUnavailable("MOSIP could not be reached.")

    monkeypatch.setattr(MosipClient, "verify_otp", unreachable)
    answer = submit(deployed, session_id, "123456")
    assert answer["status"] == 503
    assert deployed.session(session_id)["next_action"]["attempts_left"] == 3


def test_a_session_without_attempts_left_is_409_and_calls_nothing(deployed: Deployed, mosip: Served) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]
    for n in range(2):
        assert submit(deployed, session_id, f"00000{n}")["body"]["next_action"]["attempts_left"] == 2 - n
    calls = mosip.app.stats()["calls"]["useridOTP"]
    # the third wrong one ends it; then nothing more reaches MOSIP
    assert submit(deployed, session_id, "000009")["body"]["error"]["code"] == "OTP_ATTEMPTS_EXHAUSTED"
    assert submit(deployed, session_id, "000010")["status"] == 409
    assert mosip.app.stats()["calls"]["useridOTP"] == calls + 1


def test_the_eeid_listing_shows_only_the_callers_own_requests(deployed: Deployed, eeid: Served) -> None:
    mine = deployed.start({"subject": "EE30303039914"}, "eeid", key_id="key-a")["body"]["session_id"]
    theirs = deployed.start({"subject": "EE60001017869"}, "eeid", key_id="key-b")["body"]["session_id"]

    page = deployed.api(
        "EeidListFunction",
        "GET",
        "/v1/eeid/identifications",
        key_id="key-a",
        query={"page": "1", "page_size": "50"},
    )

    assert page["status"] == 200
    listed = [item["session_id"] for item in page["body"]["items"]]
    assert mine in listed and theirs not in listed
    text = json.dumps(page["body"])
    assert "30303039914" not in text and "60001017869" not in text and "/ident/" not in text
    assert set(page["body"]["items"][0]) == {
        "session_id",
        "identification_request_id",
        "status",
        "completed_at",
        "link_expires_at",
        "claims_matched",
    }


@pytest.mark.parametrize(
    ("function", "method", "path", "body"),
    [
        ("DokobitStartFunction", "POST", "/v1/sessions/dokobit-mobile-id", {"phone": "+37200000766"}),
        ("SessionGetFunction", "GET", "/v1/sessions/{session_id}", None),
        ("EeidListFunction", "GET", "/v1/eeid/identifications", None),
        ("MosipOtpFunction", "POST", "/v1/mosip/otp/generate", {"key": "order-1"}),
    ],
)
def test_a_request_without_an_api_key_id_is_refused(
    deployed: Deployed, function: str, method: str, path: str, body: dict | None
) -> None:
    full = {"phone": "+37200000766", "personal_code": "60001019906"} if body and "phone" in body else body
    params = {"session_id": "0b6c8c1e-3f7e-4d7a-9d59-0d8f3c1a2b44"} if "{session_id}" in path else {}
    answer = deployed.api(function, method, path, full, key_id=None, **params)
    assert answer["status"] == 403 and answer["body"]["code"] == "FORBIDDEN"


def test_stored_digests_are_keyed_and_leave_with_the_session(deployed: Deployed) -> None:
    started = deployed.start({"phone": "+37200000766", "personal_code": "60001019906"})
    session_id = started["body"]["session_id"]
    stored = next(i for i in items("Sessions") if i["session_id"]["S"] == session_id)
    digest = stored["expected_subject_hmac"]["S"]
    assert digest != hashlib.sha256(b"EE:60001019906").hexdigest()

    deployed.execution(session_id)
    after = next(i for i in items("Sessions") if i["session_id"]["S"] == session_id)
    assert "expected_subject_hmac" not in after and deployed.session(session_id)["status"] == "completed"


def test_the_idempotency_record_of_a_password_login_holds_nothing_password_derived(
    deployed: Deployed,
) -> None:
    body = {"username": "alice", "password": "alice-password"}
    first = deployed.start(body, "mosip-password", headers={"Idempotency-Key": "login-1"})
    replay = deployed.start(body, "mosip-password", headers={"Idempotency-Key": "login-1"})
    assert first["status"] == replay["status"] == 201
    assert replay["body"]["session_id"] == first["body"]["session_id"] and "credentials" not in replay["body"]

    stored = json.dumps(items("Idempotency"))
    for derived in (
        "alice-password",
        hashlib.md5(b"alice-password").hexdigest(),
        hashlib.sha256(b"alice-password").hexdigest(),
    ):
        assert derived not in stored
    # the compared digest is keyed: the unkeyed hash of the same canonical body is not in the record
    plain = json.dumps({"app_id": None, "reference": None, "username": "alice"}, sort_keys=True)
    assert hashlib.md5(plain.encode()).hexdigest() not in stored


@pytest.mark.parametrize("token", ["a;b", "x\r\nCookie: admin=1", "tok en", 'quoted"', "tök", "t\\n"])
def test_tokens_outside_the_cookie_value_set_are_422(deployed: Deployed, mosip: Served, token: str) -> None:
    for route in ("validate", "invalidate"):
        answer = deployed.api("MosipTokensFunction", "POST", f"/v1/mosip/tokens/{route}", {"token": token})
        assert answer["status"] == 422 and answer["body"]["errors"][0]["field"] == "token"
    assert sum(mosip.app.stats()["calls"].values()) == 0


def test_a_mosip_token_that_cannot_be_recorded_is_invalidated_not_lost(
    deployed: Deployed, mosip: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eid_broker.errors import InternalUnavailable
    from eid_broker.sessions.service import SessionService

    session_id = start_otp(deployed)["body"]["session_id"]

    def down(*args: object, **kwargs: object) -> None:
        raise InternalUnavailable("Sessions could not be updated.")

    monkeypatch.setattr(SessionService, "complete", down)
    monkeypatch.setattr(SessionService, "_store", down)
    answer = submit(deployed, session_id, mosip.app.last_otp("alice"))
    assert answer["status"] == 503 and "credentials" not in answer["body"]
    login = deployed.start({"username": "alice", "password": "alice-password"}, "mosip-password")
    assert login["status"] == 503 and "credentials" not in login["body"]
    # both tokens MOSIP issued were invalidated at MOSIP, since the broker could hand neither over
    assert mosip.app.stats()["calls"]["invalidateToken"] == 2
