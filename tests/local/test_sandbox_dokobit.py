"""Behaviour of the local Dokobit Identity API sandbox (Mobile-ID login)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from local.sandboxes.dokobit import PERSONAS, DokobitSandbox
from tests.conftest import START, FakeClock

TOKEN = "test-access-token"
OK_AFTER = 7.0
TTL = 300.0

MARY = ("+37200000766", "60001019906")
EDVARDAS = ("+37060000666", "50001018865")
FLAKY = ("+37200000466", "60001019994")
NOT_USER = ("+37200000266", "60001019939")
PHONE_FAILED = ("+37207110066", "60001019947")
CANCELLED = ("+37201100266", "60001019950")
NEVER = ("+37213100266", "60001019961")
EXPIRED = ("+37201200266", "60001019972")
OUTAGE = ("+37200000366", "60001019983")


@pytest.fixture
def sandbox(clock: FakeClock) -> DokobitSandbox:
    return DokobitSandbox(access_token=TOKEN, ok_after=OK_AFTER, session_ttl=TTL, clock=clock)


@pytest.fixture
def client(sandbox: DokobitSandbox) -> Client:
    return Client(sandbox)


def login(client: Client, phone: str, code: str, token: str = TOKEN) -> TestResponse:
    return client.post(
        f"/v2/mobile/login.json?access_token={token}", data={"phone": phone, "code": code, "language": "EN"}
    )


def status(client: Client, session_token: str, token: str = TOKEN) -> TestResponse:
    return client.get(f"/v2/mobile/login/status/{session_token}.json?access_token={token}")


def body(response: TestResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    result = json.loads(response.get_data(as_text=True))
    assert isinstance(result, dict)
    return result


def start(client: Client, person: tuple[str, str]) -> str:
    response = login(client, *person)
    assert response.status_code == 200
    data = body(response)
    assert data["status"] == "ok"
    return str(data["token"])


def test_success_persona_waits_then_answers_with_identity_and_real_certificate(
    client: Client, clock: FakeClock
) -> None:
    # Given a login for the Estonian success persona
    response = login(client, *MARY)
    data = body(response)
    assert response.status_code == 200
    assert data["status"] == "ok"
    assert len(data["token"]) == 40 and int(data["token"], 16) >= 0
    assert len(data["control_code"]) == 4 and data["control_code"].isdigit()
    assert (data["name"], data["surname"]) == ("MARY ÄNN", "O’CONNEŽ-ŠUSLIK TESTNUMBER")
    assert (data["code"], data["country"]) == ("60001019906", "EE")

    # When the person has not confirmed yet
    clock.advance(OK_AFTER - 0.1)
    # Then the status is waiting
    assert body(status(client, data["token"])) == {"status": "waiting"}

    # When ok_after has passed
    clock.advance(0.1)
    final = body(status(client, data["token"]))

    # Then the identity and a parseable certificate come back
    assert final["status"] == "ok"
    assert (final["name"], final["surname"], final["code"], final["country"]) == (
        "MARY ÄNN",
        "O’CONNEŽ-ŠUSLIK TESTNUMBER",
        "60001019906",
        "EE",
    )
    cert_json = final["certificate"]
    pem = base64.b64decode(cert_json["value"])
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOEE-60001019906"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "O’CONNEŽ-ŠUSLIK TESTNUMBER,MARY ÄNN,60001019906"
    )
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "TEST of ESTEID-SK 2015"
    assert cert_json["subject"] == {
        "country": "EE",
        "organisation": "ESTEID (MOBIIL-ID)",
        "organisation_unit": "authentication",
        "common_name": "O’CONNEŽ-ŠUSLIK TESTNUMBER,MARY ÄNN,60001019906",
        "surname": "O’CONNEŽ-ŠUSLIK TESTNUMBER",
        "name": "MARY ÄNN",
        "serial_number": "PNOEE-60001019906",
    }
    assert cert_json["issuer"] == {
        "country": "EE",
        "organisation": "AS Sertifitseerimiskeskus",
        "common_name": "TEST of ESTEID-SK 2015",
    }
    assert cert_json["valid_from"] == cert.not_valid_before_utc.isoformat()
    assert cert_json["valid_to"] == cert.not_valid_after_utc.isoformat()
    assert cert_json["name"].startswith("/C=EE/O=ESTEID (MOBIIL-ID)/OU=authentication/CN=")
    assert cert_json["name"].endswith("/serialNumber=PNOEE-60001019906")
    assert cert_json == data["certificate"]

    # And later status calls keep answering ok
    clock.advance(30)
    assert body(status(client, data["token"])) == final


def test_certificate_is_signed_by_the_demo_ca_and_cached_per_person(client: Client, clock: FakeClock) -> None:
    # Given two sessions of the same person and one of another
    first = body(login(client, *MARY))
    second = body(login(client, *MARY))
    other = body(login(client, *EDVARDAS))

    # Then the same person gets the same certificate, a different person a different one
    assert first["certificate"]["value"] == second["certificate"]["value"]
    assert other["certificate"]["value"] != first["certificate"]["value"]
    leaf = x509.load_pem_x509_certificate(base64.b64decode(other["certificate"]["value"]))
    assert leaf.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOLT-50001018865"
    assert leaf.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "LT"
    mary = x509.load_pem_x509_certificate(base64.b64decode(first["certificate"]["value"]))
    assert leaf.issuer == mary.issuer


def test_lithuanian_persona_succeeds_after_ok_after(client: Client, clock: FakeClock) -> None:
    # Given a login for the Lithuanian persona
    token = start(client, EDVARDAS)
    # When ok_after has passed
    clock.advance(OK_AFTER)
    final = body(status(client, token))
    # Then the identity is Lithuanian
    assert final["status"] == "ok"
    assert (final["code"], final["country"], final["name"], final["surname"]) == (
        "50001018865",
        "LT",
        "EDVARDAS",
        "TESTNUMBER",
    )


@pytest.mark.parametrize("bad_token", ["wrong", ""])
def test_wrong_access_token_is_forbidden_without_echoing_it(client: Client, bad_token: str) -> None:
    # When logging in with a wrong or empty access token
    response = login(client, *MARY, token=bad_token)
    # Then it is refused with 403 and the token is not echoed
    assert response.status_code == 403
    assert body(response) == {"status": "error", "message": "Invalid access token"}


def test_missing_access_token_on_status_is_forbidden(client: Client) -> None:
    # Given a session
    token = start(client, MARY)
    # When asking its status without an access token
    response = client.get(f"/v2/mobile/login/status/{token}.json")
    # Then it is refused
    assert response.status_code == 403
    assert token not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("phone", "code", "fields"),
    [
        ("+37100000766", "60001019906", ["phone"]),
        ("37200000766", "60001019906", ["phone"]),
        ("+37200000766", "70001019906", ["code"]),
        ("", "", ["phone", "code"]),
        ("+37060000666", "500010-18865", ["code"]),
    ],
)
def test_malformed_phone_or_code_is_rejected_without_echoing_values(
    client: Client, sandbox: DokobitSandbox, phone: str, code: str, fields: list[str]
) -> None:
    # When logging in with malformed data
    response = login(client, phone, code)
    # Then 400 names the bad fields but not their values
    assert response.status_code == 400
    data = body(response)
    assert data["status"] == "error"
    assert data["errors"] == fields
    text = response.get_data(as_text=True)
    for value in (phone, code):
        if value:
            assert value not in text
    # And no session was created
    assert sandbox.stats()["sessions"] == []


def test_missing_form_fields_are_rejected(client: Client) -> None:
    # When posting no form fields at all
    response = client.post(f"/v2/mobile/login.json?access_token={TOKEN}")
    # Then both are reported missing
    assert response.status_code == 400
    assert body(response)["errors"] == ["phone", "code"]


def test_latvian_style_code_with_dash_is_well_formed(client: Client) -> None:
    # When a well-formed unknown person logs in
    response = login(client, "+37120000000", "010190-12345")
    # Then it is not a Mobile-ID user
    assert response.status_code == 200
    assert body(response) == {"status": "error", "message": "Not a mobile signature user", "error_code": 6001}


@pytest.mark.parametrize(
    "person", [NOT_USER, ("+37200000767", "60001019906"), ("+37060000000", "39001010000")]
)
def test_not_a_mobile_id_user(client: Client, sandbox: DokobitSandbox, person: tuple[str, str]) -> None:
    # When the not-a-user persona, or any unknown well-formed pair, logs in
    response = login(client, *person)
    # Then login answers 6001 with HTTP 200 and no session
    assert response.status_code == 200
    assert body(response) == {"status": "error", "message": "Not a mobile signature user", "error_code": 6001}
    assert sandbox.stats()["sessions"] == []


def test_outage_persona_answers_500(client: Client) -> None:
    # When the outage persona logs in
    response = login(client, *OUTAGE)
    # Then the service answers an internal error
    assert response.status_code == 500
    assert body(response) == {"status": "error", "message": "Internal server error"}


@pytest.mark.parametrize(
    ("person", "error_code", "message"),
    [
        (PHONE_FAILED, 7022, "Sending request to phone failed"),
        (CANCELLED, 7023, "User cancelled"),
        (EXPIRED, 6005, "Expired transaction"),
    ],
)
def test_failing_personas_wait_then_fail(
    client: Client, clock: FakeClock, person: tuple[str, str], error_code: int, message: str
) -> None:
    # Given a session of a failing persona
    response = login(client, *person)
    data = body(response)
    assert data["status"] == "ok" and "certificate" not in data
    # When polled before ok_after
    clock.advance(OK_AFTER / 2)
    # Then it waits
    assert body(status(client, data["token"])) == {"status": "waiting"}
    # When polled after ok_after
    clock.advance(OK_AFTER)
    final = status(client, data["token"])
    # Then the error comes with HTTP 200
    assert final.status_code == 200
    assert body(final) == {"status": "error", "message": message, "error_code": error_code}


def test_never_answering_persona_waits_until_ttl_then_expires(client: Client, clock: FakeClock) -> None:
    # Given a session of the persona who never confirms
    token = start(client, NEVER)
    # When polled long after ok_after but before ttl
    clock.advance(TTL - 1)
    # Then it still waits
    assert body(status(client, token)) == {"status": "waiting"}
    # When the ttl has passed
    clock.advance(1)
    # Then the session has expired
    assert body(status(client, token)) == {
        "status": "error",
        "message": "Expired transaction",
        "error_code": 6005,
    }


def test_any_session_past_ttl_expires(client: Client, clock: FakeClock) -> None:
    # Given a success session never polled
    token = start(client, MARY)
    # When the ttl passes
    clock.advance(TTL + 1)
    # Then it answers 6005
    assert body(status(client, token))["error_code"] == 6005


def test_flaky_persona_answers_503_on_first_status_call_of_each_session(
    client: Client, clock: FakeClock
) -> None:
    # Given two sessions of the flaky persona
    tokens = [start(client, FLAKY), start(client, FLAKY)]
    clock.advance(OK_AFTER)
    for token in tokens:
        # When polled the first time
        first = status(client, token)
        # Then it is unavailable
        assert first.status_code == 503
        assert body(first) == {"status": "error", "message": "Service unavailable"}
        # And the next call answers ok
        second = status(client, token)
        assert second.status_code == 200
        data = body(second)
        assert (data["status"], data["name"], data["surname"]) == ("ok", "JAAK-KRISTJAN", "JÕEORG")


def test_unknown_session_token_is_404(client: Client) -> None:
    # When asking the status of a token never issued
    response = status(client, "0" * 40)
    # Then it is not found
    assert response.status_code == 404
    assert body(response) == {"status": "error", "message": "Session not found"}


def test_tokens_and_control_codes_look_random(client: Client) -> None:
    # When the same person logs in many times
    answers = [body(login(client, *MARY)) for _ in range(30)]
    # Then tokens are distinct 40-hex strings and control codes are 4 digits, not all equal
    tokens = {a["token"] for a in answers}
    assert len(tokens) == 30
    assert all(len(t) == 40 and set(t) <= set("0123456789abcdef") for t in tokens)
    codes = {a["control_code"] for a in answers}
    assert all(len(c) == 4 and c.isdigit() for c in codes)
    assert len(codes) > 1


def test_stats_count_calls_and_record_timings_without_personal_data(
    client: Client, sandbox: DokobitSandbox, clock: FakeClock
) -> None:
    # Given one finished success session, one waiting failure session and a 6001 login
    started = body(login(client, *MARY))
    token = started["token"]
    failed = start(client, PHONE_FAILED)
    login(client, *NOT_USER)
    assert body(status(client, token)) == {"status": "waiting"}
    clock.advance(OK_AFTER + 2)
    assert body(status(client, token))["status"] == "ok"
    clock.advance(1)
    assert body(status(client, token))["status"] == "ok"

    # When reading the stats directly and through the admin route
    stats = sandbox.stats()
    via_http = client.get("/_sandbox/stats")

    # Then calls and sessions are counted with timing
    assert via_http.status_code == 200
    assert body(via_http) == json.loads(json.dumps(stats))
    assert stats["calls"] == {"login": 3, "status": 3, "smartid_login": 0, "smartid_status": 0}
    by_sha = {s["token_sha"]: s for s in stats["sessions"]}
    assert set(by_sha) == {hashlib.sha256(t.encode()).hexdigest()[:12] for t in (token, failed)}
    ok = by_sha[hashlib.sha256(token.encode()).hexdigest()[:12]]
    assert ok == {
        "token_sha": hashlib.sha256(token.encode()).hexdigest()[:12],
        "persona": "ok-ee",
        "created_at": START,
        "ready_at": START + OK_AFTER,
        "status_calls": 3,
        "status_times": [START, START + OK_AFTER + 2, START + OK_AFTER + 3],
        "first_final_served_at": START + OK_AFTER + 2,
        "control_code": started["control_code"],
    }
    pending = by_sha[hashlib.sha256(failed.encode()).hexdigest()[:12]]
    assert (pending["persona"], pending["status_calls"], pending["first_final_served_at"]) == (
        "phone-failed",
        0,
        None,
    )

    # And nothing personal or secret is in them
    text = json.dumps(stats, ensure_ascii=False)
    for secret in (*MARY, *PHONE_FAILED, *NOT_USER, token, failed, TOKEN, "MARY"):
        assert secret not in text


def test_never_answering_session_has_no_ready_at(client: Client, sandbox: DokobitSandbox) -> None:
    # When the never-answering persona logs in
    start(client, NEVER)
    # Then its session has no moment of readiness
    (session,) = sandbox.stats()["sessions"]
    assert (session["persona"], session["ready_at"]) == ("never-answers", None)


def test_reset_forgets_sessions_and_counts(client: Client, sandbox: DokobitSandbox) -> None:
    # Given a session
    token = start(client, MARY)
    # When resetting through the admin route
    response = client.post("/_sandbox/reset")
    # Then counters and sessions are gone
    assert response.status_code == 200
    calls = {"login": 0, "status": 0, "smartid_login": 0, "smartid_status": 0}
    assert sandbox.stats() == {"calls": calls, "sessions": []}
    assert status(client, token).status_code == 404


def test_wrong_method_and_unknown_route(client: Client) -> None:
    # When using the wrong verb or an unknown path
    # Then JSON errors come back
    assert client.get(f"/v2/mobile/login.json?access_token={TOKEN}").status_code == 405
    assert client.get("/v2/nope.json").status_code == 404


def test_routes_relative_to_mount_point(sandbox: DokobitSandbox, clock: FakeClock) -> None:
    # Given the sandbox mounted under /dokobit
    mounted = Client(DispatcherMiddleware(Response("root", status=418), {"/dokobit": sandbox}))
    # When logging in through the prefix
    response = mounted.post(
        f"/dokobit/v2/mobile/login.json?access_token={TOKEN}", data={"phone": MARY[0], "code": MARY[1]}
    )
    # Then the session works there
    token = body(response)["token"]
    clock.advance(OK_AFTER)
    final = mounted.get(f"/dokobit/v2/mobile/login/status/{token}.json?access_token={TOKEN}")
    assert body(final)["status"] == "ok"


def test_concurrent_logins_of_the_same_person_get_distinct_sessions(
    sandbox: DokobitSandbox, clock: FakeClock
) -> None:
    # Given 20 threads ready to start a session for the same person
    barrier = threading.Barrier(20)
    tokens: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run() -> None:
        try:
            client = Client(sandbox)
            barrier.wait()
            token = start(client, MARY)
            with guard:
                tokens.append(token)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            with guard:
                errors.append(exc)

    # When they all log in at once
    threads = [threading.Thread(target=run) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then every one got its own session
    assert errors == []
    assert len(tokens) == 20 and len(set(tokens)) == 20
    stats = sandbox.stats()
    assert stats["calls"]["login"] == 20
    assert len(stats["sessions"]) == 20
    # And every session completes independently
    clock.advance(OK_AFTER)
    client = Client(sandbox)
    assert all(body(status(client, t))["status"] == "ok" for t in tokens)


def test_personas_list_describes_each_outcome() -> None:
    # Then every listed persona has a phone, code, country and outcome text
    phones = {p["phone"] for p in PERSONAS}
    assert {
        MARY[0],
        EDVARDAS[0],
        FLAKY[0],
        NOT_USER[0],
        PHONE_FAILED[0],
        CANCELLED[0],
        NEVER[0],
        EXPIRED[0],
        OUTAGE[0],
    } <= phones
    assert all(p["outcome"] and p["country"] and p["personal_code"] for p in PERSONAS)
