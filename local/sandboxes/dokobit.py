"""Fake of the Dokobit Identity API's Mobile-ID and Smart-ID logins, as Dokobit documents them, on the shared
gateway engine: form-encoded bodies, ``access_token`` in the query, provider errors in HTTP 200 answers."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from local.sandboxes import gateway as g
from local.sandboxes.base import error_response, json_response
from local.sandboxes.gateway import GatewaySandbox, Person, Persona, Session, name_dict, oneline
from local.sandboxes.spec import SandboxSpec, env

__all__ = ["PERSONAS", "SMART_ID_PERSONAS", "DokobitSandbox"]

# The secret eid-broker/{stage}/dokobit's keys and the sandbox's defaults (`make run` seeds the secret with
# them unless DOKOBIT_{KEY} environment variables say otherwise).
CREDENTIALS: dict[str, str] = {"access_token": "sandbox-dokobit-token"}


def _ok(name: str, phone: str, code: str, country: str, given: str, surname: str, faults: int = 0) -> Persona:
    return Persona(name, (phone, code), person=Person(code, country, given, surname), faults=faults)


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "name": oneline(cert.subject),
        # Every subject key, null when the certificate lacks it (a Smart-ID certificate has no O or OU).
        "subject": name_dict(cert.subject, complete=True),
        "issuer": name_dict(cert.issuer),
        "valid_from": cert.not_valid_before_utc.isoformat(),
        "valid_to": cert.not_valid_after_utc.isoformat(),
        "value": base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode("ascii"),
    }


def _identity(person: Person, certificate: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": person.given_name,
        "surname": person.surname,
        "code": person.code,
        "country": person.country,
        "certificate": certificate,
    }


def _invalid(**checks: object) -> Response | None:
    """400 naming the fields whose check failed (never their values), or None."""
    fields = [name for name, ok in checks.items() if not ok]
    return error_response("Request data is invalid", 400, errors=fields) if fields else None


class DokobitSandbox(GatewaySandbox):
    personas = (
        _ok("ok-ee", "+37200000766", "60001019906", "EE", "MARY ÄNN", "O’CONNEŽ-ŠUSLIK TESTNUMBER"),
        _ok("ok-lt", "+37060000666", "50001018865", "LT", "EDVARDAS", "TESTNUMBER"),
        _ok("flaky-ee", "+37200000466", "60001019994", "EE", "JAAK-KRISTJAN", "JÕEORG", faults=1),
        Persona("not-user", ("+37200000266", "60001019939"), g.NOT_USER),
        Persona("phone-failed", ("+37207110066", "60001019947"), g.PHONE_FAILED),
        Persona("user-cancelled", ("+37201100266", "60001019950"), g.CANCELLED),
        Persona("never-answers", ("+37213100266", "60001019961"), g.NEVER),
        Persona("expired", ("+37201200266", "60001019972"), g.EXPIRED),
        Persona("outage", ("+37200000366", "60001019983"), g.OUTAGE),
        *g.SMART_ID_PERSONAS,
    )
    errors: ClassVar[dict[str, tuple[int, str]]] = {
        g.NOT_USER: (6001, "Not a mobile signature user"),
        g.PHONE_FAILED: (7022, "Sending request to phone failed"),
        g.CANCELLED: (7023, "User cancelled"),
        g.EXPIRED: (6005, "Expired transaction"),
        g.OUTAGE: (500, "Internal server error"),
        g.NO_ACCOUNT: (6006, "User does not have Smart-ID account."),
        g.NOT_QUALIFIED: (6007, "User can not use Smart-ID account."),
        g.WRONG_VC: (7023, "Signing canceled by user."),
        g.UNUSABLE: (6008, "User should view Smart-ID app or self-service portal"),
        g.UNAVAILABLE: (503, "Service unavailable"),
        g.SESSION_NOT_FOUND: (404, "Session not found"),
    }
    subject_attributes: ClassVar[dict[str, str]] = {
        "organisation": "ESTEID (MOBIIL-ID)",
        "unit": "authentication",
    }

    def __init__(
        self,
        access_token: str = CREDENTIALS["access_token"],
        ok_after: float = 7.0,
        session_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            access_token=access_token,
            ok_after=ok_after,
            session_ttl=session_ttl,
            clock=clock,
            rules=[
                Rule("/v2/mobile/login.json", methods=["POST"], endpoint="login"),
                Rule("/v2/mobile/login/status/<token>.json", methods=["GET"], endpoint="status"),
                # No /v2/ prefix for Smart-ID in Dokobit's documents and SDK.
                Rule("/smartid/login.json", methods=["POST"], endpoint="smartid_login"),
                Rule("/smartid/login/status/<token>.json", methods=["GET"], endpoint="smartid_status"),
            ],
            describe=_describe,
        )

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if not self._token_ok(request.args.get("access_token", "")):
            return error_response("Invalid access token", 403)
        if endpoint in ("status", "smartid_status"):
            return self._status(args["token"], smart_id=endpoint == "smartid_status")
        if endpoint == "smartid_login":
            code, country = (request.form.get(field, "").strip() for field in ("code", "country"))
            country = country.upper()
            pattern = g.SMART_ID_CODE_RE.get(country, g.CODE_RE)
            rejected = _invalid(code=pattern.match(code), country=country in g.SMART_ID_CODE_RE)
            return rejected or self._login((country, code), smart_id=True)
        phone, code = (request.form.get(field, "").strip() for field in ("phone", "code"))
        rejected = _invalid(phone=g.PHONE_RE.match(phone), code=g.CODE_RE.match(code))
        return rejected or self._login((phone, code))

    def _new_token(self) -> str:
        return secrets.token_hex(20)

    @classmethod
    def wire(cls, outcome: str) -> tuple[int, dict[str, Any]]:
        # A Smart-ID refusal is a status of its own, without an error code.
        return (200, {"status": "canceled"}) if outcome == g.REFUSED else super().wire(outcome)

    def _login_ok(self, session: Session, certificate: dict[str, Any] | None) -> Response:
        body = {"status": "ok", "token": session.token, "control_code": session.control_code}
        person = session.persona.person
        # Mobile-ID v2 names the person at login already; Smart-ID only once the person has confirmed.
        if person and certificate and not session.persona.smart_id:
            body |= _identity(person, certificate)
        return json_response(body)

    def _status_ok(self, session: Session, person: Person, certificate: dict[str, Any]) -> Response:
        return json_response({"status": "ok", **_identity(person, certificate)})


PERSONAS: list[dict[str, str]] = DokobitSandbox.persona_rows()
SMART_ID_PERSONAS: list[dict[str, str]] = DokobitSandbox.persona_rows(smart_id=True)
ALL_PERSONAS = PERSONAS + SMART_ID_PERSONAS


def _factory(access_token: str, **options: Any) -> DokobitSandbox:
    return DokobitSandbox(
        access_token, **{"ok_after": float(env("DOKOBIT_SANDBOX_OK_AFTER", "7")), **options}
    )


SANDBOX = SandboxSpec("dokobit", "DokobitBaseUrl", CREDENTIALS, _factory, 8081, (), ALL_PERSONAS)
