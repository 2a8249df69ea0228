"""Behaviour of the machinery the provider sandboxes share."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.routing import Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from local.sandboxes import gateway as g
from local.sandboxes.base import json_response, jwt_decode, jwt_encode
from local.sandboxes.gateway import (
    CertificateFactory,
    GatewaySandbox,
    Person,
    Persona,
    Session,
    name_dict,
    oneline,
    person_subject,
)

START = 1_000.0


class Clock:
    now = START

    def __call__(self) -> float:
        return self.now


def _person(given: str) -> Person:
    return Person("60001019906", "EE", given.upper(), "TEST")


class Echo(GatewaySandbox):
    """Smallest gateway: POST /start/<name> opens a session, GET /poll/<token> reports the phase."""

    personas = (
        Persona("ann", ("+37200000001", "60001019906"), person=_person("ann")),
        Persona("never", ("+37200000002", "60001019906"), g.NEVER),
        Persona("flaky", ("+37200000003", "60001019906"), person=_person("flaky"), faults=1),
    )
    errors: ClassVar[dict[str, tuple[int, str]]] = {
        g.NOT_USER: (6001, "not a user"),
        g.EXPIRED: (410, "expired"),
        g.UNAVAILABLE: (503, "unavailable"),
        g.SESSION_NOT_FOUND: (404, "missing"),
    }

    def __init__(self, clock: Clock) -> None:
        super().__init__(
            access_token="secret",
            ok_after=5.0,
            session_ttl=60.0,
            clock=clock,
            rules=[
                Rule("/start/<name>", methods=["POST"], endpoint="start"),
                Rule("/poll/<token>", methods=["GET"], endpoint="poll"),
            ],
            describe=lambda cert: {"name": oneline(cert.subject)},
        )

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if endpoint == "start":
            return self._login(next(p.key for p in self.personas if p.name == args["name"]))
        return self._status(args["token"])

    def _new_token(self) -> str:
        return f"t-{len(self._sessions)}"

    def _login_ok(self, session: Session, certificate: dict[str, Any] | None) -> Response:
        return json_response({"token": session.token})

    def _status_ok(self, session: Session, person: Person, certificate: dict[str, Any]) -> Response:
        return json_response({"status": "ok"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Echo:
    return Echo(clock)


def start(client: Client, name: str) -> str:
    return str(client.post(f"/start/{name}").json["token"])  # type: ignore[index]


def phase(client: Client, token: str) -> str:
    answer = json.loads(client.get(f"/poll/{token}").get_data())
    return {"waiting": "waiting", "ok": "final"}.get(answer["status"]) or str(answer["message"])


def test_poll_moves_from_waiting_to_final_to_expired_and_records_the_first_final(
    sandbox: Echo, clock: Clock
) -> None:
    client = Client(sandbox)
    ann, never = start(client, "ann"), start(client, "never")
    assert phase(client, ann) == "waiting"
    clock.now = START + 5
    assert phase(client, ann) == "final"
    assert phase(client, never) == "waiting"
    clock.now = START + 60
    assert (phase(client, ann), phase(client, never), phase(client, "t-x")) == (
        "expired",
        "expired",
        "missing",
    )
    sessions = {s["persona"]: s for s in sandbox.stats()["sessions"]}
    assert sessions["ann"]["first_final_served_at"] == START + 5
    assert (sessions["never"]["ready_at"], sessions["never"]["first_final_served_at"]) == (None, START + 60)
    assert sandbox.stats()["calls"] == {"start": 2, "poll": 6}


def test_unavailable_calls_are_counted_but_not_final(sandbox: Echo, clock: Clock) -> None:
    client = Client(sandbox)
    flaky = start(client, "flaky")
    clock.now = START + 10
    assert [phase(client, flaky) for _ in range(2)] == ["unavailable", "final"]
    (session,) = sandbox.stats()["sessions"]
    assert (session["status_calls"], session["first_final_served_at"]) == (2, START + 10)


def test_admin_routes_and_json_errors(sandbox: Echo) -> None:
    client = Client(sandbox)
    start(client, "ann")
    assert json.loads(client.get("/_sandbox/stats").get_data()) == sandbox.stats()
    wrong_method = client.get("/start/ann")
    missing = client.get("/nowhere")
    assert (wrong_method.status_code, wrong_method.json) == (
        405,
        {"status": "error", "message": "Method not allowed"},
    )
    assert (missing.status_code, missing.json) == (404, {"status": "error", "message": "Not found"})
    assert client.post("/_sandbox/reset").json == {"status": "ok"}
    assert sandbox.stats() == {"calls": {"start": 0, "poll": 0}, "sessions": []}


def test_certificates_are_cached_per_key_issued_by_the_demo_ca_and_handed_out_as_copies() -> None:
    issued: list[x509.Certificate] = []

    def describe(cert: x509.Certificate) -> dict[str, Any]:
        issued.append(cert)
        return {"subject": name_dict(cert.subject, complete=True), "name": oneline(cert.subject)}

    factory = CertificateFactory(describe)
    subject = person_subject("LT", "ANN", "TEST", "50001018865", unit="authentication")
    first = factory.certificate("ann", subject)
    first["subject"]["name"] = "changed"
    again = factory.certificate("ann", subject)
    factory.certificate("bob", person_subject("EE", "BOB", "TEST", "60001019906"))

    assert len(issued) == 2
    assert again["subject"]["name"] == "ANN"
    assert again["subject"]["organisation"] is None
    assert (
        again["name"]
        == "/C=LT/OU=authentication/CN=TEST,ANN,50001018865/SN=TEST/GN=ANN/serialNumber=PNOLT-50001018865"
    )
    leaf = issued[0]
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "TEST of ESTEID-SK 2015"
    assert name_dict(leaf.issuer) == {
        "country": "EE",
        "organisation": "AS Sertifitseerimiskeskus",
        "common_name": "TEST of ESTEID-SK 2015",
    }
    assert issued[1].issuer == leaf.issuer


def test_persona_rows_describe_each_outcome_in_the_dialect_and_end_with_the_unknown_row() -> None:
    assert Echo.persona_rows() == [
        {
            "persona": "ann",
            "phone": "+37200000001",
            "personal_code": "60001019906",
            "country": "EE",
            "outcome": "status waiting until ok_after, then ok with identity",
        },
        {
            "persona": "never",
            "phone": "+37200000002",
            "personal_code": "60001019906",
            "country": "EE",
            "outcome": "status waiting until session_ttl, then HTTP 410",
        },
        {
            "persona": "flaky",
            "phone": "+37200000003",
            "personal_code": "60001019906",
            "country": "EE",
            "outcome": "the first 1 status call(s) answer HTTP 503; "
            "status waiting until ok_after, then ok with identity",
        },
        {
            "persona": "unknown",
            "phone": "any other valid phone",
            "personal_code": "any other valid code",
            "country": "-",
            "outcome": "login answers 6001 (HTTP 200)",
        },
    ]


def test_jwt_round_trip_and_refusals() -> None:
    token = jwt_encode(b"k" * 32, {"sub": "app", "exp": 5})
    assert jwt_decode(b"k" * 32, token) == {"sub": "app", "exp": 5}
    header, payload, signature = token.split(".")
    other = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (f"{header}.{payload}.{other}", f"{header}.{payload}", "a.b.c", token + "é"):
        assert jwt_decode(b"k" * 32, forged) is None
    assert jwt_decode(b"other-key", token) is None
