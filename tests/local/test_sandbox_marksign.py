"""Behaviour of the local MarkSign gateway sandbox (Mobile-ID login)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from local.sandboxes.marksign import PERSONAS, MarkSignSandbox
from tests.conftest import START, FakeClock

TOKEN = "test-access-token"
OK_AFTER = 7.0
TTL = 300.0

TEN = ("+37269000366", "60001017705")
JAAN = ("+37269000466", "39001010011")
NOT_FOUND = ("+37269000566", "49001010012")
REFUSED = ("+37269000666", "38001010020")
EXPIRED = ("+37269000766", "48001010021")
NO_CERTIFICATE = ("+37269000866", "37001010037")
OUTAGE = ("+37269000966", "47001010030")
UNAUTHORIZED = ("+37269001066", "36001010049")
NEVER = ("+37269001166", "46001010049")
WRONG_PERSON = ("+37269001266", "35001010058")

SESSION_NOT_FOUND = {
    "status": "error",
    "message": "Session for given token was not found",
    "error_code": 40402,
}
INVALID_TOKEN = {"status": "error", "message": "Invalid access token", "error_code": 40003}


@pytest.fixture
def sandbox(clock: FakeClock) -> MarkSignSandbox:
    return MarkSignSandbox(access_token=TOKEN, ok_after=OK_AFTER, session_ttl=TTL, clock=clock)


@pytest.fixture
def client(sandbox: MarkSignSandbox) -> Client:
    return Client(sandbox)


def login(
    client: Client, phone: str, code: str, token: str = TOKEN, prefix: str = "", **extra: Any
) -> TestResponse:
    payload = {"access_token": token, "phone": phone, "code": code, "language": "ENG", **extra}
    return client.post(f"{prefix}/mobile/login.json", json=payload)


def status(client: Client, session_token: str, token: str = TOKEN, prefix: str = "") -> TestResponse:
    return client.post(f"{prefix}/mobile/status/{session_token}.json", json={"access_token": token})


def delete(client: Client, session_token: str, token: str = TOKEN) -> TestResponse:
    return client.delete(f"/api/mobile/session/{session_token}", json={"access_token": token})


def body(response: TestResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    result = json.loads(response.get_data(as_text=True))
    assert isinstance(result, dict)
    return result


def start(client: Client, person: tuple[str, str], **extra: Any) -> str:
    response = login(client, *person, **extra)
    assert response.status_code == 200
    data = body(response)
    assert data["status"] == "ok"
    return str(data["token"])


def der_of(certificate: dict[str, Any]) -> bytes:
    once = base64.b64decode(certificate["value"], validate=True)
    assert once.startswith(b"MII")
    return base64.b64decode(once, validate=True)


def test_success_persona_waits_then_answers_like_the_documented_sample(
    client: Client, clock: FakeClock
) -> None:
    # Given a login for the documented sample person
    response = login(client, *TEN)
    data = body(response)
    assert response.status_code == 200
    assert list(data) == ["status", "certificate", "code", "token", "control_code"]
    assert data["status"] == "ok" and data["code"] == "60001017705"
    assert str(uuid.UUID(data["token"])) == data["token"]
    assert len(data["control_code"]) == 4 and data["control_code"].isdigit()

    # When the person has not answered yet
    clock.advance(OK_AFTER - 0.1)
    # Then the status is waiting
    waiting = status(client, data["token"])
    assert waiting.status_code == 200
    assert body(waiting) == {"status": "waiting"}

    # When ok_after has passed
    clock.advance(0.1)
    final = body(status(client, data["token"]))

    # Then the identity comes back in the documented shape
    assert list(final) == [
        "status",
        "country",
        "certificate",
        "code",
        "name",
        "token",
        "control_code",
        "surname",
        "sanctions_data",
        "peps_data",
    ]
    assert {k: v for k, v in final.items() if k != "certificate"} == {
        "status": "ok",
        "country": "EE",
        "code": "60001017705",
        "name": "TEN",
        "token": data["token"],
        "control_code": data["control_code"],
        "surname": "TESTNUMBER",
        "sanctions_data": [],
        "peps_data": [],
    }
    # And the certificate is a real X.509 certificate encoded base64 twice
    cert_json = final["certificate"]
    cert = x509.load_der_x509_certificate(der_of(cert_json))
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOEE-60001017705"
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "TEST of ESTEID-SK 2015"
    assert cert_json["name"] == (
        "/C=EE/CN=TESTNUMBER,TEN,60001017705/SN=TESTNUMBER/GN=TEN/serialNumber=PNOEE-60001017705"
    )
    assert cert_json["subject"] == {
        "country": "EE",
        "organisation": None,
        "organisation_unit": None,
        "common_name": "TESTNUMBER,TEN,60001017705",
        "surname": "TESTNUMBER",
        "name": "TEN",
        "serial_number": "PNOEE-60001017705",
    }
    assert cert_json["issuer"] == {
        "country": "EE",
        "organisation": "AS Sertifitseerimiskeskus",
        "common_name": "TEST of ESTEID-SK 2015",
    }
    assert cert_json["valid_from"] == cert.not_valid_before_utc.date().isoformat()
    assert cert_json["valid_to"] == cert.not_valid_after_utc.date().isoformat()
    assert len(cert_json["valid_from"]) == 10
    assert cert_json == data["certificate"]

    # And later status calls keep answering ok
    clock.advance(30)
    assert body(status(client, data["token"])) == final


def test_certificate_is_signed_by_the_demo_ca_and_cached_per_person(client: Client) -> None:
    # Given two sessions of the same person and one of another
    first = body(login(client, *TEN))
    second = body(login(client, *TEN))
    other = body(login(client, *JAAN))

    # Then the same person gets the same certificate, a different person a different one
    assert first["certificate"]["value"] == second["certificate"]["value"]
    assert other["certificate"]["value"] != first["certificate"]["value"]
    ten = x509.load_der_x509_certificate(der_of(first["certificate"]))
    jaan = x509.load_der_x509_certificate(der_of(other["certificate"]))
    assert jaan.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOEE-39001010011"
    assert jaan.issuer == ten.issuer
    issuer_o = ten.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert issuer_o == "AS Sertifitseerimiskeskus"
    assert ten.signature_hash_algorithm is not None and ten.signature_hash_algorithm.name == "sha256"


def test_english_locale_prefix_serves_the_same_flow(client: Client, clock: FakeClock) -> None:
    # Given a login through the /en prefix
    response = login(client, *TEN, prefix="/en")
    assert response.status_code == 200
    token = body(response)["token"]
    # When polled through /en after ok_after, and through the LT path too
    clock.advance(OK_AFTER)
    english = status(client, token, prefix="/en")
    lithuanian = status(client, token)
    # Then both answer ok for the same session
    assert english.status_code == 200 and body(english)["status"] == "ok"
    assert body(english) == body(lithuanian)


def test_access_token_in_the_query_string_is_refused_and_in_the_body_accepted(client: Client) -> None:
    # When the access token rides only in the URL
    in_url = client.post(f"/mobile/login.json?access_token={TOKEN}", json={"phone": TEN[0], "code": TEN[1]})
    # Then it counts as missing
    assert in_url.status_code == 401
    assert body(in_url) == INVALID_TOKEN
    # When it rides in the URL and in the body
    both = client.post(
        f"/mobile/login.json?access_token={TOKEN}",
        json={"access_token": TOKEN, "phone": TEN[0], "code": TEN[1]},
    )
    # Then it is still refused
    assert both.status_code == 401
    # When it rides in the body only
    in_body = login(client, *TEN)
    # Then the login is accepted
    assert in_body.status_code == 200 and body(in_body)["status"] == "ok"


def test_status_and_delete_need_the_access_token_in_the_body(client: Client) -> None:
    # Given a session
    token = start(client, TEN)
    # When status and delete carry the token in the URL only, or no body at all
    attempts = [
        client.post(f"/mobile/status/{token}.json?access_token={TOKEN}"),
        client.post(f"/mobile/status/{token}.json"),
        client.delete(f"/api/mobile/session/{token}?access_token={TOKEN}"),
        status(client, token, token="wrong"),
        delete(client, token, token="wrong"),
    ]
    # Then all are refused with 40003 without echoing the session token
    for response in attempts:
        assert response.status_code == 401
        assert body(response) == INVALID_TOKEN
        assert token not in response.get_data(as_text=True)
    # And the session is still there
    assert status(client, token).status_code == 200


@pytest.mark.parametrize("bad_token", ["wrong", "", 12345, None])
def test_wrong_access_token_is_unauthorized_without_echoing_it(client: Client, bad_token: Any) -> None:
    # When logging in with a wrong, empty or ill-typed access token
    response = client.post(
        "/mobile/login.json", json={"access_token": bad_token, "phone": TEN[0], "code": TEN[1]}
    )
    # Then it is refused with 401 and error 40003
    assert response.status_code == 401
    assert body(response) == INVALID_TOKEN


def test_non_json_body_is_an_invalid_parameter(client: Client) -> None:
    # When posting a form instead of JSON
    response = client.post(
        "/mobile/login.json", data={"access_token": TOKEN, "phone": TEN[0], "code": TEN[1]}
    )
    # Then it is rejected as an invalid parameter without echoing values
    assert response.status_code == 400
    data = body(response)
    assert data["error_code"] == 40001
    assert TEN[0] not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("payload", "error_code", "message"),
    [
        ({"code": TEN[1]}, 40001, "Invalid parameter [phone]"),
        ({"phone": 37269000366, "code": TEN[1]}, 40001, "Invalid parameter [phone]"),
        ({"phone": TEN[0]}, 40001, "Invalid parameter [code]"),
        ({"phone": TEN[0], "code": 60001017705}, 40001, "Invalid parameter [code]"),
        ({"phone": "+37169000366", "code": TEN[1]}, 40004, "Invalid phone number format"),
        ({"phone": "37269000366", "code": TEN[1]}, 40004, "Invalid phone number format"),
        ({"phone": TEN[0], "code": "70001017705"}, 40005, "Invalid personal code format"),
        ({"phone": TEN[0], "code": "600010-17705"}, 40005, "Invalid personal code format"),
        (
            {"phone": TEN[0], "code": TEN[1], "message_format": "UTF-8"},
            40001,
            "Invalid parameter [message_format]: Invalid message format",
        ),
        (
            {"phone": TEN[0], "code": TEN[1], "language": "FR"},
            40001,
            "Invalid parameter [language]: Invalid language",
        ),
        (
            {"phone": TEN[0], "code": TEN[1], "language": ["ENG"]},
            40001,
            "Invalid parameter [language]: Invalid language",
        ),
        (
            {"phone": TEN[0], "code": TEN[1], "message_format": ["GSM-7"]},
            40001,
            "Invalid parameter [message_format]: Invalid message format",
        ),
        (
            {"phone": TEN[0], "code": TEN[1], "message": "x" * 41},
            40001,
            "Invalid parameter [message]: Invalid message",
        ),
        (
            {"phone": TEN[0], "code": TEN[1], "message": "x" * 21, "message_format": "UCS-2"},
            40001,
            "Invalid parameter [message]: Invalid message",
        ),
        ({"phone": TEN[0], "code": TEN[1], "peps": "yes"}, 40001, "Invalid parameter [peps]"),
        ({"phone": TEN[0], "code": TEN[1], "sanctions": 1}, 40001, "Invalid parameter [sanctions]"),
    ],
)
def test_malformed_login_is_rejected_without_echoing_values(
    client: Client, sandbox: MarkSignSandbox, payload: dict[str, Any], error_code: int, message: str
) -> None:
    # When logging in with malformed data
    response = client.post("/mobile/login.json", json={"access_token": TOKEN, **payload})
    # Then 400 carries the documented error code and no submitted value
    assert response.status_code == 400
    assert body(response) == {"status": "error", "message": message, "error_code": error_code}
    text = response.get_data(as_text=True)
    for value in payload.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in text
    # And no session was created
    assert sandbox.stats()["sessions"] == []


def test_valid_message_and_options_are_accepted(client: Client) -> None:
    # When logging in with every optional field set within limits
    response = login(
        client, *TEN, message="x" * 40, message_format="GSM-7", peps=False, sanctions=False, language="EST"
    )
    # Then the login is accepted
    assert response.status_code == 200 and body(response)["status"] == "ok"


@pytest.mark.parametrize(
    ("person", "http_status", "error_code", "message"),
    [
        (NOT_FOUND, 404, 40401, "User account not found"),
        (("+37269000367", "60001017705"), 404, 40401, "User account not found"),
        (("+37060000000", "010190-12345"), 404, 40401, "User account not found"),
        (NO_CERTIFICATE, 400, 40801, "Timeout acquiring certificate"),
        (OUTAGE, 500, 50001, "Technical error"),
        (UNAUTHORIZED, 403, 50003, "Not authorized for service"),
    ],
)
def test_personas_failing_at_login(
    client: Client,
    sandbox: MarkSignSandbox,
    person: tuple[str, str],
    http_status: int,
    error_code: int,
    message: str,
) -> None:
    # When a persona failing at login, or an unknown well-formed pair, logs in
    response = login(client, *person)
    # Then the documented error comes with a non-200 status and no session
    assert response.status_code == http_status
    assert body(response) == {"status": "error", "message": message, "error_code": error_code}
    assert sandbox.stats()["sessions"] == []


@pytest.mark.parametrize(
    ("person", "error_code", "message"),
    [(REFUSED, 40020, "User refused"), (EXPIRED, 40021, "Session expired")],
)
def test_personas_failing_after_waiting(
    client: Client, clock: FakeClock, person: tuple[str, str], error_code: int, message: str
) -> None:
    # Given a session of a failing persona
    data = body(login(client, *person))
    assert data["status"] == "ok" and "certificate" not in data
    # When polled before ok_after
    clock.advance(OK_AFTER / 2)
    # Then it waits
    assert body(status(client, data["token"])) == {"status": "waiting"}
    # When polled after ok_after
    clock.advance(OK_AFTER)
    final = status(client, data["token"])
    # Then the documented error comes with HTTP 400
    assert final.status_code == 400
    assert body(final) == {"status": "error", "message": message, "error_code": error_code}


def test_never_answering_persona_waits_until_ttl_then_expires(client: Client, clock: FakeClock) -> None:
    # Given a session of the persona who never answers
    token = start(client, NEVER)
    # When polled long after ok_after but before ttl
    clock.advance(TTL - 1)
    # Then it still waits
    assert body(status(client, token)) == {"status": "waiting"}
    # When the ttl has passed
    clock.advance(1)
    response = status(client, token)
    # Then the session has expired
    assert response.status_code == 400
    assert body(response) == {"status": "error", "message": "Session expired", "error_code": 40021}


def test_any_session_past_ttl_expires(client: Client, clock: FakeClock) -> None:
    # Given a success session never polled
    token = start(client, TEN)
    # When the ttl passes
    clock.advance(TTL + 1)
    # Then it answers 40021
    assert body(status(client, token))["error_code"] == 40021


def test_wrong_person_persona_returns_another_persons_identity(client: Client, clock: FakeClock) -> None:
    # Given a login for the wrong-person persona and one for TEN
    data = body(login(client, *WRONG_PERSON))
    ten = body(login(client, *TEN))
    # Then the login already carries another person's code and certificate
    assert data["code"] == "60001017705" != WRONG_PERSON[1]
    assert data["certificate"] == ten["certificate"]
    # When the session completes
    clock.advance(OK_AFTER)
    final = body(status(client, data["token"]))
    # Then it is ok but names someone else
    assert (final["status"], final["code"], final["name"], final["surname"]) == (
        "ok",
        "60001017705",
        "TEN",
        "TESTNUMBER",
    )
    cert = x509.load_der_x509_certificate(der_of(final["certificate"]))
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOEE-60001017705"


@pytest.mark.parametrize(
    ("options", "peps_expected", "sanctions_expected"),
    [
        ({}, False, False),
        ({"peps": True}, True, False),
        ({"sanctions": True}, False, True),
        ({"peps": True, "sanctions": True}, True, True),
    ],
)
def test_peps_and_sanctions_data_only_when_asked(
    client: Client, clock: FakeClock, options: dict[str, bool], peps_expected: bool, sanctions_expected: bool
) -> None:
    # Given a login for the PEP persona with the given screening options
    token = start(client, JAAN, **options)
    # When the session completes
    clock.advance(OK_AFTER)
    final = body(status(client, token))
    # Then screening data appears only for what was asked
    assert (final["status"], final["name"], final["surname"]) == ("ok", "JAAN", "PEPTESTNUMBER")
    peps = [
        {
            "name": "JAAN PEPTESTNUMBER",
            "position": "Member of Parliament",
            "country": "EE",
            "source": "sandbox",
        }
    ]
    sanctions = [{"list": "EU consolidated", "name": "JAAN PEPTESTNUMBER", "source": "sandbox"}]
    assert final["peps_data"] == (peps if peps_expected else [])
    assert final["sanctions_data"] == (sanctions if sanctions_expected else [])


def test_screening_of_a_clean_person_is_empty_even_when_asked(client: Client, clock: FakeClock) -> None:
    # Given TEN logging in with both screenings asked
    token = start(client, TEN, peps=True, sanctions=True)
    clock.advance(OK_AFTER)
    # Then nothing is found
    final = body(status(client, token))
    assert (final["peps_data"], final["sanctions_data"]) == ([], [])


def test_delete_ends_the_session(client: Client, sandbox: MarkSignSandbox, clock: FakeClock) -> None:
    # Given a session
    token = start(client, TEN)
    # When it is deleted
    clock.advance(2)
    response = delete(client, token)
    # Then the delete answers ok and later status calls find no session
    assert response.status_code == 200
    assert body(response) == {"status": "ok"}
    clock.advance(OK_AFTER)
    gone = status(client, token)
    assert gone.status_code == 404
    assert body(gone) == SESSION_NOT_FOUND
    # And a second delete is refused
    again = delete(client, token)
    assert again.status_code == 404
    assert body(again) == {"status": "error", "message": "Request number is invalid"}
    # And the stats remember when it was deleted
    (session,) = sandbox.stats()["sessions"]
    assert session["deleted_at"] == START + 2


def test_delete_of_an_unknown_session_is_404(client: Client) -> None:
    # When deleting a token never issued, also through the /en prefix
    for path in ("/api/mobile/session/", "/en/api/mobile/session/"):
        response = client.delete(f"{path}{uuid.uuid4()}", json={"access_token": TOKEN})
        # Then it is an invalid request number
        assert response.status_code == 404
        assert body(response) == {"status": "error", "message": "Request number is invalid"}


def test_unknown_session_token_is_40402(client: Client) -> None:
    # When asking the status of a token never issued
    unknown = str(uuid.uuid4())
    response = status(client, unknown)
    # Then it is not found, without echoing the token
    assert response.status_code == 404
    assert body(response) == SESSION_NOT_FOUND
    assert unknown not in response.get_data(as_text=True)


def test_tokens_and_control_codes_look_random(client: Client) -> None:
    # When the same person logs in many times
    answers = [body(login(client, *TEN)) for _ in range(30)]
    # Then tokens are distinct UUIDs and control codes are 4 digits, not all equal
    tokens = {a["token"] for a in answers}
    assert len(tokens) == 30
    assert all(str(uuid.UUID(t)) == t for t in tokens)
    codes = {a["control_code"] for a in answers}
    assert all(len(c) == 4 and c.isdigit() for c in codes)
    assert len(codes) > 1


def test_stats_count_calls_and_record_timings_without_personal_data(
    client: Client, sandbox: MarkSignSandbox, clock: FakeClock
) -> None:
    # Given a finished success session, a waiting refused session, a deleted one and a 40401 login
    started = body(login(client, *TEN))
    token = started["token"]
    refused = start(client, REFUSED)
    deleted = start(client, JAAN)
    login(client, *NOT_FOUND)
    assert body(status(client, token)) == {"status": "waiting"}
    clock.advance(OK_AFTER + 2)
    assert body(status(client, token))["status"] == "ok"
    clock.advance(1)
    assert body(status(client, token))["status"] == "ok"
    assert delete(client, deleted).status_code == 200

    # When reading the stats directly and through the admin route
    stats = sandbox.stats()
    via_http = client.get("/_sandbox/stats")

    # Then calls and sessions are counted with timing
    assert via_http.status_code == 200
    assert body(via_http) == json.loads(json.dumps(stats))
    smart_id = {"smartid_login": 0, "smartid_status": 0, "smartid_delete": 0}
    assert stats["calls"] == {"login": 4, "status": 3, "delete": 1, **smart_id}

    def sha(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()[:12]

    by_sha = {s["token_sha"]: s for s in stats["sessions"]}
    assert set(by_sha) == {sha(t) for t in (token, refused, deleted)}
    assert by_sha[sha(token)] == {
        "token_sha": sha(token),
        "persona": "ok-ee",
        "created_at": START,
        "ready_at": START + OK_AFTER,
        "status_calls": 3,
        "status_times": [START, START + OK_AFTER + 2, START + OK_AFTER + 3],
        "first_final_served_at": START + OK_AFTER + 2,
        "control_code": started["control_code"],
        "deleted_at": None,
    }
    pending = by_sha[sha(refused)]
    assert (pending["persona"], pending["status_calls"], pending["first_final_served_at"]) == (
        "refused",
        0,
        None,
    )
    assert by_sha[sha(deleted)]["deleted_at"] == START + OK_AFTER + 3

    # And nothing personal or secret is in them
    text = json.dumps(stats, ensure_ascii=False)
    for secret in (*TEN, *REFUSED, *JAAN, *NOT_FOUND, token, refused, deleted, TOKEN, "TEN", "JAAN"):
        assert secret not in text


def test_never_answering_session_has_no_ready_at(client: Client, sandbox: MarkSignSandbox) -> None:
    # When the never-answering persona logs in
    start(client, NEVER)
    # Then its session has no moment of readiness
    (session,) = sandbox.stats()["sessions"]
    assert (session["persona"], session["ready_at"]) == ("never-answers", None)


def test_reset_forgets_sessions_and_counts(client: Client, sandbox: MarkSignSandbox) -> None:
    # Given a session
    token = start(client, TEN)
    # When resetting through the admin route
    response = client.post("/_sandbox/reset")
    # Then counters and sessions are gone
    assert response.status_code == 200
    calls = {
        "login": 0,
        "status": 0,
        "delete": 0,
        "smartid_login": 0,
        "smartid_status": 0,
        "smartid_delete": 0,
    }
    assert sandbox.stats() == {"calls": calls, "sessions": []}
    assert body(status(client, token)) == SESSION_NOT_FOUND


def test_wrong_method_and_unknown_route(client: Client) -> None:
    # When using the wrong verb or an unknown path
    # Then JSON errors come back
    assert client.get("/mobile/login.json").status_code == 405
    assert client.get(f"/mobile/status/{uuid.uuid4()}.json").status_code == 405
    assert client.post("/v2/mobile/login.json", json={"access_token": TOKEN}).status_code == 404


def test_routes_relative_to_mount_point(sandbox: MarkSignSandbox, clock: FakeClock) -> None:
    # Given the sandbox mounted under /marksign
    mounted = Client(DispatcherMiddleware(Response("root", status=418), {"/marksign": sandbox}))
    # When logging in through the prefix
    response = mounted.post(
        "/marksign/en/mobile/login.json", json={"access_token": TOKEN, "phone": TEN[0], "code": TEN[1]}
    )
    # Then the session works there
    token = body(response)["token"]
    clock.advance(OK_AFTER)
    final = mounted.post(f"/marksign/mobile/status/{token}.json", json={"access_token": TOKEN})
    assert body(final)["status"] == "ok"
    gone = mounted.delete(f"/marksign/api/mobile/session/{token}", json={"access_token": TOKEN})
    assert body(gone) == {"status": "ok"}


def test_concurrent_logins_of_the_same_person_get_distinct_sessions(
    sandbox: MarkSignSandbox, clock: FakeClock
) -> None:
    # Given 20 threads ready to start a session for the same person
    barrier = threading.Barrier(20)
    tokens: list[str] = []
    certificates: set[str] = set()
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run() -> None:
        try:
            client = Client(sandbox)
            barrier.wait()
            data = body(login(client, *TEN))
            with guard:
                tokens.append(data["token"])
                certificates.add(data["certificate"]["value"])
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            with guard:
                errors.append(exc)

    # When they all log in at once
    threads = [threading.Thread(target=run) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then every one got its own session and all share one certificate
    assert errors == []
    assert len(tokens) == 20 and len(set(tokens)) == 20
    assert len(certificates) == 1
    stats = sandbox.stats()
    assert stats["calls"]["login"] == 20
    assert len(stats["sessions"]) == 20
    # And every session completes independently
    clock.advance(OK_AFTER)
    client = Client(sandbox)
    assert all(body(status(client, t))["status"] == "ok" for t in tokens)


def test_personas_list_describes_each_outcome() -> None:
    # Then every persona of the table is listed with its phone, code, country and outcome text
    pairs = {(p["phone"], p["personal_code"]) for p in PERSONAS}
    assert {
        TEN,
        JAAN,
        NOT_FOUND,
        REFUSED,
        EXPIRED,
        NO_CERTIFICATE,
        OUTAGE,
        UNAUTHORIZED,
        NEVER,
        WRONG_PERSON,
    } <= pairs
    assert all(p["outcome"] and p["country"] and p["personal_code"] and p["persona"] for p in PERSONAS)
    assert len({p["persona"] for p in PERSONAS}) == len(PERSONAS)
