"""Behaviour of the machinery the provider sandboxes share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.routing import Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from local.sandboxes.base import (
    CertificateFactory,
    Phase,
    Sandbox,
    Session,
    json_response,
    name_dict,
    oneline,
    person_subject,
    personas_table,
)

START = 1_000.0


@dataclass(frozen=True)
class Person:
    name: str
    flaky: bool = False


class Clock:
    now = START

    def __call__(self) -> float:
        return self.now


class Echo(Sandbox[Session[Person]]):
    """Smallest sandbox: POST /start/<name> opens a session, GET /poll/<token> reports the phase."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(
            access_token="secret",
            ok_after=5.0,
            session_ttl=60.0,
            clock=clock,
            session_type=Session[Person],
            endpoints=("start", "poll"),
            rules=[
                Rule("/start/<name>", methods=["POST"], endpoint="start"),
                Rule("/poll/<token>", methods=["GET"], endpoint="poll"),
            ],
        )

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if endpoint == "start":
            person = Person(args["name"], flaky=args["name"] == "flaky")
            session = self._start_session(f"t-{args['name']}", person, answers=args["name"] != "never")
            return json_response({"token": session.token})
        polled = self._poll(args["token"])
        return json_response({"phase": polled[1].value if polled else "missing"})

    def _unavailable(self, session: Session[Person]) -> bool:
        return session.persona.flaky and session.status_calls == 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Echo:
    return Echo(clock)


def phase(client: Client, token: str) -> str:
    return str(json.loads(client.get(f"/poll/{token}").get_data())["phase"])


def test_poll_moves_from_waiting_to_final_to_expired_and_records_the_first_final(
    sandbox: Echo, clock: Clock
) -> None:
    client = Client(sandbox)
    client.post("/start/ann")
    client.post("/start/never")
    assert phase(client, "t-ann") == Phase.WAITING.value
    clock.now = START + 5
    assert phase(client, "t-ann") == Phase.FINAL.value
    assert phase(client, "t-never") == Phase.WAITING.value
    clock.now = START + 60
    assert (phase(client, "t-ann"), phase(client, "t-never"), phase(client, "t-x")) == (
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
    client.post("/start/flaky")
    clock.now = START + 10
    assert [phase(client, "t-flaky") for _ in range(2)] == ["unavailable", "final"]
    (session,) = sandbox.stats()["sessions"]
    assert (session["status_calls"], session["first_final_served_at"]) == (2, START + 10)


def test_admin_routes_and_json_errors(sandbox: Echo) -> None:
    client = Client(sandbox)
    client.post("/start/ann")
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


def test_personas_table_ends_with_the_unknown_row() -> None:
    table = personas_table([("ok", "+37200000766", "60001019906", "EE", "fine")], "not a user")
    assert table == [
        {
            "persona": "ok",
            "phone": "+37200000766",
            "personal_code": "60001019906",
            "country": "EE",
            "outcome": "fine",
        },
        {
            "persona": "unknown",
            "phone": "any other valid phone",
            "personal_code": "any other valid code",
            "country": "-",
            "outcome": "not a user",
        },
    ]
