"""Local fake of the Dokobit Identity API (Mobile-ID login) for offline runs, e2e tests and benchmarks.

Mount it as a WSGI app (for example under ``/dokobit`` with werkzeug's DispatcherMiddleware); it routes on
PATH_INFO relative to the mount point:

- ``POST /v2/mobile/login.json?access_token=…`` (form fields ``phone``, ``code``, optional ``language``,
  ``message``)
- ``GET /v2/mobile/login/status/<token>.json?access_token=…``
- ``GET /_sandbox/stats`` and ``POST /_sandbox/reset`` (admin, no access token)

The outcome of a session is chosen by the (phone, personal code) pair, see ``PERSONAS``.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from local.sandboxes.base import (
    CODE_RE,
    PHONE_RE,
    CertificateFactory,
    Phase,
    Sandbox,
    Session,
    error_response,
    json_response,
    name_dict,
    oneline,
    person_subject,
    personas_table,
    serve,
)

__all__ = ["PERSONAS", "DokobitSandbox", "main"]

# Outcomes a persona can have.
OK = "ok"
FLAKY = "flaky"
NOT_USER = "not-user"
PHONE_FAILED = "phone-failed"
CANCELLED = "cancelled"
NEVER = "never"
EXPIRED = "expired"
OUTAGE = "outage"

_STATUS_ERRORS: dict[str, tuple[int, str]] = {
    PHONE_FAILED: (7022, "Sending request to phone failed"),
    CANCELLED: (7023, "User cancelled"),
    EXPIRED: (6005, "Expired transaction"),
}
_NOT_USER_BODY: dict[str, Any] = {
    "status": "error",
    "message": "Not a mobile signature user",
    "error_code": 6001,
}
_EXPIRED_BODY: dict[str, Any] = {"status": "error", "message": "Expired transaction", "error_code": 6005}


@dataclass(frozen=True)
class _Persona:
    name: str
    phone: str
    code: str
    country: str
    given_name: str
    surname: str
    outcome: str
    description: str


_PERSONA_LIST: tuple[_Persona, ...] = (
    _Persona(
        "ok-ee",
        "+37200000766",
        "60001019906",
        "EE",
        "MARY ÄNN",
        "O’CONNEŽ-ŠUSLIK TESTNUMBER",
        OK,
        "login ok; status waiting until ok_after, then ok with identity and certificate",
    ),
    _Persona(
        "ok-lt",
        "+37060000666",
        "50001018865",
        "LT",
        "EDVARDAS",
        "TESTNUMBER",
        OK,
        "login ok; status waiting until ok_after, then ok with identity and certificate",
    ),
    _Persona(
        "flaky-ee",
        "+37200000466",
        "60001019994",
        "EE",
        "JAAK-KRISTJAN",
        "JÕEORG",
        FLAKY,
        "first status call of each session answers HTTP 503, otherwise like ok-ee",
    ),
    _Persona(
        "not-user",
        "+37200000266",
        "60001019939",
        "EE",
        "",
        "",
        NOT_USER,
        "login answers error 6001 (not a Mobile-ID user)",
    ),
    _Persona(
        "phone-failed",
        "+37207110066",
        "60001019947",
        "EE",
        "",
        "",
        PHONE_FAILED,
        "status waiting until ok_after, then error 7022 (sending request to phone failed)",
    ),
    _Persona(
        "user-cancelled",
        "+37201100266",
        "60001019950",
        "EE",
        "",
        "",
        CANCELLED,
        "status waiting until ok_after, then error 7023 (user cancelled)",
    ),
    _Persona(
        "never-answers",
        "+37213100266",
        "60001019961",
        "EE",
        "",
        "",
        NEVER,
        "status waiting until session_ttl, then error 6005 (expired transaction)",
    ),
    _Persona(
        "expired",
        "+37201200266",
        "60001019972",
        "EE",
        "",
        "",
        EXPIRED,
        "status waiting until ok_after, then error 6005 (expired transaction)",
    ),
    _Persona(
        "outage",
        "+37200000366",
        "60001019983",
        "EE",
        "",
        "",
        OUTAGE,
        "login answers HTTP 500 (service outage)",
    ),
)
_BY_KEY: dict[tuple[str, str], _Persona] = {(p.phone, p.code): p for p in _PERSONA_LIST}

PERSONAS: list[dict[str, str]] = personas_table(
    ((p.name, p.phone, p.code, p.country, p.description) for p in _PERSONA_LIST),
    "login answers error 6001 (not a Mobile-ID user)",
)


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return {
        "name": oneline(cert.subject),
        "subject": name_dict(cert.subject),
        "issuer": name_dict(cert.issuer),
        "valid_from": cert.not_valid_before_utc.isoformat(),
        "valid_to": cert.not_valid_after_utc.isoformat(),
        "value": base64.b64encode(pem).decode("ascii"),
    }


_Session = Session[_Persona]


class DokobitSandbox(Sandbox[_Session]):
    """WSGI fake of the Dokobit Identity API Mobile-ID login flow."""

    def __init__(
        self,
        access_token: str = "sandbox-dokobit-token",
        ok_after: float = 7.0,
        session_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            access_token=access_token,
            ok_after=ok_after,
            session_ttl=session_ttl,
            clock=clock,
            session_type=_Session,
            endpoints=("login", "status"),
            rules=[
                Rule("/v2/mobile/login.json", methods=["POST"], endpoint="login"),
                Rule("/v2/mobile/login/status/<token>.json", methods=["GET"], endpoint="status"),
            ],
        )
        self._certs = CertificateFactory(_describe)

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if not self._token_ok(request.args.get("access_token", "")):
            return error_response("Invalid access token", 403)
        if endpoint == "login":
            return self._login(request)
        return self._status(args["token"])

    def _unavailable(self, session: _Session) -> bool:
        return session.persona.outcome == FLAKY and session.status_calls == 1

    def _login(self, request: Request) -> Response:
        phone = request.form.get("phone", "").strip()
        code = request.form.get("code", "").strip()
        errors = []
        if not PHONE_RE.match(phone):
            errors.append("phone")
        if not CODE_RE.match(code):
            errors.append("code")
        if errors:
            return error_response("Request data is invalid", 400, errors=errors)

        persona = _BY_KEY.get((phone, code))
        if persona is None or persona.outcome == NOT_USER:
            return json_response(_NOT_USER_BODY)
        if persona.outcome == OUTAGE:
            return error_response("Internal server error", 500)

        # Built before taking the state lock: the first call per person generates keys.
        identity = self._identity(persona) if persona.outcome in (OK, FLAKY) else {}
        session = self._start_session(secrets.token_hex(20), persona, answers=persona.outcome != NEVER)
        return json_response(
            {"status": "ok", "token": session.token, "control_code": session.control_code, **identity}
        )

    def _identity(self, persona: _Persona) -> dict[str, Any]:
        subject = person_subject(
            persona.country,
            persona.given_name,
            persona.surname,
            persona.code,
            organisation="ESTEID (MOBIIL-ID)",
            unit="authentication",
        )
        return {
            "name": persona.given_name,
            "surname": persona.surname,
            "code": persona.code,
            "country": persona.country,
            "certificate": self._certs.certificate(persona.name, subject),
        }

    def _status(self, token: str) -> Response:
        polled = self._poll(token)
        if polled is None:
            return error_response("Session not found", 404)
        session, phase = polled
        outcome = session.persona.outcome
        if phase is Phase.UNAVAILABLE:
            return error_response("Service unavailable", 503)
        if phase is Phase.WAITING:
            return json_response({"status": "waiting"})
        if phase is Phase.EXPIRED:
            return json_response(_EXPIRED_BODY)
        if outcome in _STATUS_ERRORS:
            error_code, message = _STATUS_ERRORS[outcome]
            return error_response(message, 200, error_code=error_code)
        return json_response({"status": "ok", **self._identity(session.persona)})


def main(argv: list[str] | None = None) -> None:
    serve(
        argv,
        DokobitSandbox,
        description="Serve the Dokobit Identity API sandbox alone.",
        port=8081,
        access_token="sandbox-dokobit-token",
        banner="Dokobit sandbox on http://127.0.0.1:{port}/v2/mobile/login.json",
        personas=PERSONAS,
        token_in_path=re.compile(r"(/status/)[^/]+(\.json)$"),
    )


if __name__ == "__main__":
    main()
