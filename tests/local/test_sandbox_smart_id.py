"""Smart-ID in the Dokobit and MarkSign sandboxes: every persona in both wire dialects."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from werkzeug.test import Client, TestResponse

from local.sandboxes import dokobit, marksign
from local.sandboxes.dokobit import DokobitSandbox
from local.sandboxes.gateway import GatewaySandbox
from local.sandboxes.marksign import MarkSignSandbox
from tests.conftest import START, FakeClock

TOKEN = "test-access-token"
OK_AFTER = 7.0
TTL = 300.0

# (country, personal code) -> (given name, surname) of the personas who confirm
SUCCESS = {
    ("EE", "40504040001"): ("ONA", "TESTNUMBER"),
    ("LT", "40504040001"): ("ONA", "TESTNUMBER"),
    ("LV", "050405-10009"): ("JANIS", "TESTNUMBER"),
    ("LT", "30303039914"): ("QUALIFIED OK1", "TESTNUMBER"),
    ("EE", "30303039914"): ("QUALIFIED OK1", "TESTNUMBER"),
}
FLAKY = [("EE", "50001029996"), ("LT", "50001029996"), ("LV", "020100-29990")]
REFUSED = [("EE", "30403039917"), ("LT", "30403039917"), ("LV", "030403-10016")]
WRONG_VC = [("EE", "30403039972"), ("LT", "30403039972"), ("LV", "030403-10075")]
TIMEOUT = [("EE", "30403039983"), ("LT", "30403039983"), ("LV", "030403-10083")]
UNUSABLE = [("EE", "49901010040")]
NOT_QUALIFIED = [("LT", "40504049999"), ("LV", "050404-19993")]
NO_ACCOUNT = [("EE", "39901010038"), ("LT", "38001010020"), ("LV", "010101-12345")]


def error(message: str, code: int) -> dict[str, Any]:
    return {"status": "error", "message": message, "error_code": code}


@dataclass
class Dialect:
    """How one provider's Smart-ID API is called, and what it answers each outcome with."""

    name: str
    sandbox: GatewaySandbox
    client: Client
    answers: dict[str, tuple[int, dict[str, Any]]]

    def login(self, country: Any, code: Any, token: str = TOKEN, **extra: Any) -> TestResponse:
        if self.name == "dokobit":
            fields = {"code": code, "country": country, **extra}
            return self.client.post(f"/smartid/login.json?access_token={token}", data=fields)
        payload = {"access_token": token, "code": code, "country": country, **extra}
        return self.client.post("/smartid/login.json", json=payload)

    def status(self, session_token: str, *, mobile_id: bool = False) -> TestResponse:
        if self.name == "dokobit":
            path = "/v2/mobile/login" if mobile_id else "/smartid/login"
            return self.client.get(f"{path}/status/{session_token}.json?access_token={TOKEN}")
        path = "/mobile" if mobile_id else "/smartid"
        return self.client.post(f"{path}/status/{session_token}.json", json={"access_token": TOKEN})

    def start(self, country: str, code: str, **extra: Any) -> str:
        response = self.login(country, code, **extra)
        assert response.status_code == 200
        data = body(response)
        assert list(data) == ["status", "token", "control_code"]
        assert data["status"] == "ok" and len(data["control_code"]) == 4 and data["control_code"].isdigit()
        return str(data["token"])

    def certificate(self, cert_json: dict[str, Any]) -> x509.Certificate:
        once = base64.b64decode(cert_json["value"], validate=True)
        if self.name == "dokobit":
            assert once.startswith(b"-----BEGIN CERTIFICATE-----")
            return x509.load_pem_x509_certificate(once)
        assert once.startswith(b"MII")
        return x509.load_der_x509_certificate(base64.b64decode(once, validate=True))


DOKOBIT_ANSWERS = {
    "unavailable": (503, {"status": "error", "message": "Service unavailable"}),
    "refused": (200, {"status": "canceled"}),
    "wrong-vc": (200, error("Signing canceled by user.", 7023)),
    "timeout": (200, error("Expired transaction", 6005)),
    "unusable": (200, error("User should view Smart-ID app or self-service portal", 6008)),
    "not-qualified": (200, error("User can not use Smart-ID account.", 6007)),
    "no-account": (200, error("User does not have Smart-ID account.", 6006)),
    "not-found": (404, {"status": "error", "message": "Session not found"}),
}
MARKSIGN_ANSWERS = {
    "unavailable": (500, error("Cannot establish a connection", 50002)),
    "refused": (400, error("User refused", 40020)),
    "wrong-vc": (400, error("User refused", 40020)),
    "timeout": (400, error("Session expired", 40021)),
    "unusable": (400, error("Document format is corrupted, therefore unusable", 40022)),
    "not-qualified": (404, error("Account is not qualified", 40403)),
    "no-account": (404, error("User account not found", 40401)),
    "not-found": (404, error("Session for given token was not found", 40402)),
}


@pytest.fixture(params=["dokobit", "marksign"])
def dialect(request: pytest.FixtureRequest, clock: FakeClock) -> Dialect:
    if request.param == "dokobit":
        sandbox: GatewaySandbox = DokobitSandbox(
            access_token=TOKEN, ok_after=OK_AFTER, session_ttl=TTL, clock=clock
        )
        return Dialect("dokobit", sandbox, Client(sandbox), DOKOBIT_ANSWERS)
    sandbox = MarkSignSandbox(access_token=TOKEN, ok_after=OK_AFTER, session_ttl=TTL, clock=clock)
    return Dialect("marksign", sandbox, Client(sandbox), MARKSIGN_ANSWERS)


def body(response: TestResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    result = json.loads(response.get_data(as_text=True))
    assert isinstance(result, dict)
    return result


def answer(response: TestResponse) -> tuple[int, dict[str, Any]]:
    return response.status_code, body(response)


@pytest.mark.parametrize(("person", "names"), list(SUCCESS.items()))
def test_success_personas_wait_then_answer_with_identity_and_a_smart_id_certificate(
    dialect: Dialect, clock: FakeClock, person: tuple[str, str], names: tuple[str, str]
) -> None:
    (country, code), (given, surname) = person, names
    token = dialect.start(country, code)
    clock.advance(OK_AFTER - 0.1)
    assert answer(dialect.status(token)) == (200, {"status": "waiting"})
    clock.advance(0.1)
    response = dialect.status(token)
    final = body(response)
    assert response.status_code == 200
    if dialect.name == "dokobit":
        assert list(final) == ["status", "name", "surname", "code", "country", "certificate"]
    else:
        assert list(final) == [
            "status",
            "certificate",
            "code",
            "country",
            "name",
            "surname",
            "token",
            "control_code",
            "sanctions_data",
            "peps_data",
        ]
        assert (final["token"], final["sanctions_data"], final["peps_data"]) == (token, [], [])
        assert len(final["control_code"]) == 4
    assert (final["status"], final["name"], final["surname"], final["code"], final["country"]) == (
        "ok",
        given,
        surname,
        code,
        country,
    )
    cert = dialect.certificate(final["certificate"])
    serial = f"PNO{country}-{code}"
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == serial
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{surname},{given}"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "TEST of EID-SK 2016"
    assert (
        final["certificate"]["name"]
        == f"/C={country}/CN={surname},{given}/SN={surname}/GN={given}/serialNumber={serial}"
    )
    assert final["certificate"]["subject"]["serial_number"] == serial
    assert final["certificate"]["issuer"]["common_name"] == "TEST of EID-SK 2016"
    if dialect.name == "marksign":
        assert final["certificate"]["subject"]["organisation"] is None
        assert len(final["certificate"]["valid_from"]) == 10
    # And later polls keep answering the same
    clock.advance(30)
    assert body(dialect.status(token)) == final


@pytest.mark.parametrize("person", FLAKY)
def test_flaky_persona_answers_two_transient_faults_then_succeeds(
    dialect: Dialect, clock: FakeClock, person: tuple[str, str]
) -> None:
    token = dialect.start(*person)
    assert answer(dialect.status(token)) == dialect.answers["unavailable"]
    clock.advance(OK_AFTER)
    assert answer(dialect.status(token)) == dialect.answers["unavailable"]
    final = body(dialect.status(token))
    assert (final["status"], final["name"], final["code"], final["country"]) == (
        "ok",
        "FLAKY",
        person[1],
        person[0],
    )
    # Every new session of the persona faults again
    again = dialect.start(*person)
    assert answer(dialect.status(again)) == dialect.answers["unavailable"]


@pytest.mark.parametrize(
    ("outcome", "person"),
    [
        *(("refused", p) for p in REFUSED),
        *(("wrong-vc", p) for p in WRONG_VC),
        *(("timeout", p) for p in TIMEOUT),
        *(("unusable", p) for p in UNUSABLE),
    ],
)
def test_personas_failing_after_waiting(
    dialect: Dialect, clock: FakeClock, outcome: str, person: tuple[str, str]
) -> None:
    token = dialect.start(*person)
    clock.advance(OK_AFTER / 2)
    assert answer(dialect.status(token)) == (200, {"status": "waiting"})
    clock.advance(OK_AFTER)
    assert answer(dialect.status(token)) == dialect.answers[outcome]
    (session,) = dialect.sandbox.stats()["sessions"]
    assert session["persona"] == f"sid-{outcome}"


@pytest.mark.parametrize(
    ("outcome", "person"),
    [*(("not-qualified", p) for p in NOT_QUALIFIED), *(("no-account", p) for p in NO_ACCOUNT)],
)
def test_personas_failing_at_login(dialect: Dialect, outcome: str, person: tuple[str, str]) -> None:
    assert answer(dialect.login(*person)) == dialect.answers[outcome]
    assert dialect.sandbox.stats()["sessions"] == []


def test_any_smart_id_session_past_its_ttl_expires(dialect: Dialect, clock: FakeClock) -> None:
    token = dialect.start("EE", "40504040001")
    clock.advance(TTL + 1)
    assert answer(dialect.status(token)) == dialect.answers["timeout"]


def test_mobile_id_and_smart_id_sessions_are_apart(dialect: Dialect, clock: FakeClock) -> None:
    smart_id = dialect.start("EE", "40504040001")
    if dialect.name == "dokobit":
        fields = {"phone": "+37200000766", "code": "60001019906"}
        mobile = body(dialect.client.post(f"/v2/mobile/login.json?access_token={TOKEN}", data=fields))
    else:
        payload = {"access_token": TOKEN, "phone": "+37269000366", "code": "60001017705"}
        mobile = body(dialect.client.post("/mobile/login.json", json=payload))
    clock.advance(OK_AFTER)
    assert answer(dialect.status(smart_id, mobile_id=True)) == dialect.answers["not-found"]
    assert answer(dialect.status(mobile["token"])) == dialect.answers["not-found"]
    assert body(dialect.status(smart_id))["status"] == "ok"
    assert body(dialect.status(mobile["token"], mobile_id=True))["status"] == "ok"
    calls = dialect.sandbox.stats()["calls"]
    assert (calls["login"], calls["status"], calls["smartid_login"], calls["smartid_status"]) == (1, 2, 1, 2)


def test_unknown_smart_id_session(dialect: Dialect) -> None:
    unknown = uuid.uuid4().hex
    response = dialect.status(unknown)
    assert answer(response) == dialect.answers["not-found"]
    assert unknown not in response.get_data(as_text=True)


def test_certificates_are_per_country_and_code_and_cached(dialect: Dialect, clock: FakeClock) -> None:
    tokens = [
        dialect.start("EE", "40504040001"),
        dialect.start("EE", "40504040001"),
        dialect.start("LT", "40504040001"),
    ]
    clock.advance(OK_AFTER)
    ee, ee_again, lt = (body(dialect.status(t))["certificate"] for t in tokens)
    assert ee == ee_again and ee["value"] != lt["value"]
    assert (
        dialect.certificate(lt).subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
        == "PNOLT-40504040001"
    )
    assert dialect.certificate(ee).issuer == dialect.certificate(lt).issuer


def test_stats_name_personas_without_personal_data(dialect: Dialect, clock: FakeClock) -> None:
    ok = dialect.start("LV", "050405-10009")
    refused = dialect.start("LV", "030403-10016")
    dialect.login("LV", "050404-19993")
    clock.advance(OK_AFTER)
    dialect.status(ok)
    stats = dialect.sandbox.stats()
    assert stats["calls"]["smartid_login"] == 3 and stats["calls"]["smartid_status"] == 1
    sha = {s["token_sha"]: s for s in stats["sessions"]}
    assert sha[hashlib.sha256(ok.encode()).hexdigest()[:12]]["persona"] == "sid-ok-lv"
    assert sha[hashlib.sha256(refused.encode()).hexdigest()[:12]]["persona"] == "sid-refused"
    assert sha[hashlib.sha256(ok.encode()).hexdigest()[:12]]["first_final_served_at"] == START + OK_AFTER
    text = json.dumps(stats)
    for secret in ("050405-10009", "030403-10016", "050404-19993", "JANIS", ok, refused, TOKEN):
        assert secret not in text


def test_wrong_access_token_is_refused(dialect: Dialect) -> None:
    response = dialect.login("EE", "40504040001", token="wrong")
    if dialect.name == "dokobit":
        assert answer(response) == (403, {"status": "error", "message": "Invalid access token"})
    else:
        assert answer(response) == (401, error("Invalid access token", 40003))
    assert dialect.sandbox.stats()["sessions"] == []


@pytest.mark.parametrize(
    ("country", "code", "fields"),
    [
        ("FI", "40504040001", ["country"]),
        ("", "", ["code", "country"]),
        ("LV", "05040510009", ["code"]),  # the documents' LV form has the dash
        ("EE", "050405-10009", ["code"]),
        ("LT", "70504040001", ["code"]),
    ],
)
def test_dokobit_rejects_malformed_smart_id_logins_without_echoing_values(
    clock: FakeClock, country: str, code: str, fields: list[str]
) -> None:
    sandbox = DokobitSandbox(access_token=TOKEN, clock=clock)
    response = Client(sandbox).post(
        f"/smartid/login.json?access_token={TOKEN}", data={"code": code, "country": country}
    )
    assert answer(response) == (
        400,
        {"status": "error", "message": "Request data is invalid", "errors": fields},
    )
    assert (not code or code not in response.get_data(as_text=True)) and sandbox.stats()["sessions"] == []


def test_dokobit_takes_the_country_in_any_case(clock: FakeClock) -> None:
    client = Client(DokobitSandbox(access_token=TOKEN, ok_after=0, clock=clock))
    token = body(
        client.post(
            f"/smartid/login.json?access_token={TOKEN}", data={"code": "40504040001", "country": "lt"}
        )
    )["token"]
    assert body(client.get(f"/smartid/login/status/{token}.json?access_token={TOKEN}"))["country"] == "LT"


@pytest.mark.parametrize(
    ("payload", "error_code", "message"),
    [
        ({"country": "EE"}, 40001, "Invalid parameter [code]"),
        ({"country": "EE", "code": 40504040001}, 40001, "Invalid parameter [code]"),
        ({"code": "40504040001"}, 40001, "Invalid parameter [country]: Invalid country code"),
        (
            {"code": "40504040001", "country": "FI"},
            40001,
            "Invalid parameter [country]: Invalid country code",
        ),
        (
            {"code": "40504040001", "country": "ee"},
            40001,
            "Invalid parameter [country]: Invalid country code",
        ),
        (
            {"code": "40504040001", "country": ["EE"]},
            40001,
            "Invalid parameter [country]: Invalid country code",
        ),
        ({"code": "05040510009", "country": "LV"}, 40005, "Invalid personal code format"),
        ({"code": "050405-10009", "country": "LT"}, 40005, "Invalid personal code format"),
        (
            {"code": "40504040001", "country": "EE", "message": 5},
            40001,
            "Invalid parameter [message]: Invalid message",
        ),
        ({"code": "40504040001", "country": "EE", "peps": "yes"}, 40001, "Invalid parameter [peps]"),
        ({"code": "40504040001", "country": "EE", "sanctions": 1}, 40001, "Invalid parameter [sanctions]"),
    ],
)
def test_marksign_rejects_malformed_smart_id_logins_without_echoing_values(
    clock: FakeClock, payload: dict[str, Any], error_code: int, message: str
) -> None:
    sandbox = MarkSignSandbox(access_token=TOKEN, clock=clock)
    response = Client(sandbox).post("/smartid/login.json", json={"access_token": TOKEN, **payload})
    assert answer(response) == (400, error(message, error_code))
    for value in payload.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in response.get_data(as_text=True)
    assert sandbox.stats()["sessions"] == []


def test_marksign_smart_id_takes_message_peps_and_sanctions_and_the_en_prefix(clock: FakeClock) -> None:
    client = Client(MarkSignSandbox(access_token=TOKEN, ok_after=OK_AFTER, clock=clock))
    payload = {"access_token": TOKEN, "code": "40504040001", "country": "EE", "message": "x" * 60}
    started = client.post("/en/smartid/login.json", json={**payload, "peps": True, "sanctions": True})
    assert started.status_code == 200
    token = body(started)["token"]
    assert str(uuid.UUID(token)) == token
    clock.advance(OK_AFTER)
    english = client.post(f"/en/smartid/status/{token}.json", json={"access_token": TOKEN})
    assert body(english)["status"] == "ok" and (
        body(english)["peps_data"],
        body(english)["sanctions_data"],
    ) == ([], [])
    in_url = client.post(f"/smartid/status/{token}.json?access_token={TOKEN}", json={"access_token": TOKEN})
    assert answer(in_url) == (401, error("Invalid access token", 40003))


def test_marksign_smart_id_delete_ends_only_its_own_session(clock: FakeClock) -> None:
    sandbox = MarkSignSandbox(access_token=TOKEN, ok_after=OK_AFTER, clock=clock)
    client = Client(sandbox)
    token = body(
        client.post(
            "/smartid/login.json", json={"access_token": TOKEN, "code": "40504040001", "country": "EE"}
        )
    )["token"]
    gone = {"status": "error", "message": "Request number is invalid"}
    mobile_route = client.delete(f"/api/mobile/session/{token}", json={"access_token": TOKEN})
    assert answer(mobile_route) == (404, gone)
    clock.advance(2)
    assert answer(client.delete(f"/en/api/smartid/session/{token}", json={"access_token": TOKEN})) == (
        200,
        {"status": "ok"},
    )
    assert answer(client.delete(f"/api/smartid/session/{token}", json={"access_token": TOKEN})) == (404, gone)
    status = client.post(f"/smartid/status/{token}.json", json={"access_token": TOKEN})
    assert answer(status) == MARKSIGN_ANSWERS["not-found"]
    (session,) = sandbox.stats()["sessions"]
    assert (session["persona"], session["deleted_at"]) == ("sid-ok-ee", START + 2)
    assert sandbox.stats()["calls"]["smartid_delete"] == 2 and sandbox.stats()["calls"]["delete"] == 1


@pytest.mark.parametrize("module", [dokobit, marksign])
def test_smart_id_persona_tables_list_every_persona_with_its_wire_answer(module: Any) -> None:
    rows = module.SMART_ID_PERSONAS
    listed = {(r["country"], r["personal_code"]) for r in rows}
    everyone = [*SUCCESS, *FLAKY, *REFUSED, *WRONG_VC, *TIMEOUT, *UNUSABLE, *NOT_QUALIFIED, NO_ACCOUNT[0]]
    assert set(everyone) <= listed
    assert all(r["persona"].startswith("sid-") or r["persona"] == "unknown" for r in rows)
    assert all(r["outcome"] and r["country"] and r["personal_code"] for r in rows)
    assert rows[-1]["persona"] == "unknown" and "phone" not in rows[0]
    texts = {r["persona"]: r["outcome"] for r in rows}
    if module is dokobit:
        assert (texts["sid-refused"], texts["sid-not-qualified"]) == (
            "status waiting until ok_after, then status canceled",
            "login answers 6007 (HTTP 200)",
        )
    else:
        assert (texts["sid-unusable"], texts["sid-not-qualified"]) == (
            "status waiting until ok_after, then 40022 (HTTP 400)",
            "login answers 40403 (HTTP 404)",
        )
