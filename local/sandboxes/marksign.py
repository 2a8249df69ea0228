"""Local fake of the MarkSign gateway API (Mobile-ID login) for offline runs, e2e tests and benchmarks.

Mount it as a WSGI app (for example under ``/marksign`` with werkzeug's DispatcherMiddleware); it routes on
PATH_INFO relative to the mount point. Every API call is JSON with ``access_token`` in the body; the LT
locale has no path prefix, the EN locale ``/en``, and both are served:

- ``POST [/en]/mobile/login.json`` (``access_token``, ``phone``, ``code``, optional ``language``,
  ``message``, ``message_format``, ``peps``, ``sanctions``)
- ``POST [/en]/mobile/status/<token>.json`` (``access_token``)
- ``DELETE [/en]/api/mobile/session/<token>`` (``access_token``)
- ``GET /_sandbox/stats`` and ``POST /_sandbox/reset`` (admin, no access token)

The outcome of a session is chosen by the (phone, personal code) pair, see ``PERSONAS``.
"""

from __future__ import annotations

import base64
import time
import uuid
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

__all__ = ["PERSONAS", "MarkSignSandbox", "main"]

# Outcomes a persona can have.
OK = "ok"
NOT_FOUND = "not-found"
REFUSED = "refused"
EXPIRED = "expired"
NO_CERTIFICATE = "no-certificate"
OUTAGE = "outage"
UNAUTHORIZED = "unauthorized"
NEVER = "never"

_LOGIN_ERRORS: dict[str, tuple[int, str]] = {
    NOT_FOUND: (40401, "User account not found"),
    NO_CERTIFICATE: (40801, "Timeout acquiring certificate"),
    OUTAGE: (50001, "Technical error"),
    UNAUTHORIZED: (50003, "Not authorized for service"),
}
_STATUS_ERRORS: dict[str, tuple[int, str]] = {
    REFUSED: (40020, "User refused"),
    EXPIRED: (40021, "Session expired"),
}
_SESSION_EXPIRED = (40021, "Session expired")
_SESSION_NOT_FOUND = (40402, "Session for given token was not found")
_INVALID_TOKEN = (40003, "Invalid access token")
_LANGUAGES = frozenset({"LIT", "ENG", "RUS", "EST"})
_MESSAGE_LIMITS = {"GSM-7": 40, "UCS-2": 20}


@dataclass(frozen=True)
class _Identity:
    code: str
    country: str
    given_name: str
    surname: str
    peps_data: tuple[dict[str, str], ...] = ()
    sanctions_data: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class _Persona:
    name: str
    phone: str
    code: str
    outcome: str
    description: str
    identity: _Identity | None = None  # whose certificate and names the gateway returns


_TEN = _Identity("60001017705", "EE", "TEN", "TESTNUMBER")
_JAAN = _Identity(
    "39001010011",
    "EE",
    "JAAN",
    "PEPTESTNUMBER",
    peps_data=(
        {
            "name": "JAAN PEPTESTNUMBER",
            "position": "Member of Parliament",
            "country": "EE",
            "source": "sandbox",
        },
    ),
    sanctions_data=({"list": "EU consolidated", "name": "JAAN PEPTESTNUMBER", "source": "sandbox"},),
)
_WAIT_THEN_OK = "login ok with certificate; status waiting until ok_after, then ok with identity"

_PERSONA_LIST: tuple[_Persona, ...] = (
    _Persona("ok-ee", "+37269000366", "60001017705", OK, _WAIT_THEN_OK, _TEN),
    _Persona(
        "pep-ee",
        "+37269000466",
        "39001010011",
        OK,
        _WAIT_THEN_OK + "; peps_data / sanctions_data filled when the login asked peps / sanctions",
        _JAAN,
    ),
    _Persona("not-found", "+37269000566", "49001010012", NOT_FOUND, "login answers 40401 (HTTP 404)"),
    _Persona(
        "refused",
        "+37269000666",
        "38001010020",
        REFUSED,
        "status waiting until ok_after, then 40020 (HTTP 400)",
    ),
    _Persona(
        "expired",
        "+37269000766",
        "48001010021",
        EXPIRED,
        "status waiting until ok_after, then 40021 (HTTP 400)",
    ),
    _Persona(
        "no-certificate", "+37269000866", "37001010037", NO_CERTIFICATE, "login answers 40801 (HTTP 400)"
    ),
    _Persona("outage", "+37269000966", "47001010030", OUTAGE, "login answers 50001 (HTTP 500)"),
    _Persona("unauthorized", "+37269001066", "36001010049", UNAUTHORIZED, "login answers 50003 (HTTP 403)"),
    _Persona(
        "never-answers",
        "+37269001166",
        "46001010049",
        NEVER,
        "status waiting until session_ttl, then 40021 (HTTP 400)",
    ),
    _Persona(
        "wrong-person",
        "+37269001266",
        "35001010058",
        OK,
        "like ok-ee, but code and certificate are of another person (60001017705)",
        _TEN,
    ),
)
_BY_KEY: dict[tuple[str, str], _Persona] = {(p.phone, p.code): p for p in _PERSONA_LIST}

PERSONAS: list[dict[str, str]] = personas_table(
    ((p.name, p.phone, p.code, "EE", p.description) for p in _PERSONA_LIST),
    "login answers 40401 (HTTP 404)",
)


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "name": oneline(cert.subject),
        "subject": name_dict(cert.subject, complete=True),
        "issuer": name_dict(cert.issuer),
        "valid_from": cert.not_valid_before_utc.date().isoformat(),
        "valid_to": cert.not_valid_after_utc.date().isoformat(),
        # The gateway encodes twice: one decode yields the base64 text "MII…", the second the DER.
        "value": base64.b64encode(base64.b64encode(der)).decode("ascii"),
    }


@dataclass(kw_only=True)
class _Session(Session[_Persona]):
    peps: bool
    sanctions: bool
    deleted_at: float | None = None

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "deleted_at": self.deleted_at}


def _http_status(error_code: int) -> int:
    if error_code == 40003:
        return 401
    if error_code in (40401, 40402):
        return 404
    if error_code == 50003:
        return 403
    return 500 if error_code >= 50000 else 400


def _error(error: tuple[int, str]) -> Response:
    code, message = error
    return error_response(message, _http_status(code), error_code=code)


def _invalid(parameter: str, reason: str = "") -> Response:
    message = f"Invalid parameter [{parameter}]" + (f": {reason}" if reason else "")
    return _error((40001, message))


class MarkSignSandbox(Sandbox[_Session]):
    """WSGI fake of the MarkSign gateway Mobile-ID login flow."""

    def __init__(
        self,
        access_token: str = "sandbox-marksign-token",
        ok_after: float = 7.0,
        session_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        rules = []
        for prefix in ("", "/en"):
            rules += [
                Rule(f"{prefix}/mobile/login.json", methods=["POST"], endpoint="login"),
                Rule(f"{prefix}/mobile/status/<token>.json", methods=["POST"], endpoint="status"),
                Rule(f"{prefix}/api/mobile/session/<token>", methods=["DELETE"], endpoint="delete"),
            ]
        super().__init__(
            access_token=access_token,
            ok_after=ok_after,
            session_ttl=session_ttl,
            clock=clock,
            session_type=_Session,
            endpoints=("login", "status", "delete"),
            rules=rules,
        )
        self._certs = CertificateFactory(_describe)

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        # A token in the URL counts as missing even when the body has one too, so a leak cannot pass.
        if "access_token" in request.args:
            return _error(_INVALID_TOKEN)
        payload = self._payload(request)
        if payload is None:
            return _invalid("body", "JSON object expected")
        if not self._token_ok(payload.get("access_token")):
            return _error(_INVALID_TOKEN)
        if endpoint == "login":
            return self._login(payload)
        if endpoint == "status":
            return self._status(args["token"])
        return self._delete(args["token"])

    def _is_open(self, session: _Session) -> bool:
        return session.deleted_at is None

    @staticmethod
    def _payload(request: Request) -> dict[str, Any] | None:
        if not request.get_data(cache=True):
            return {}
        if not request.is_json:
            return None
        payload = request.get_json(silent=True)
        return payload if isinstance(payload, dict) else None

    def _login(self, payload: dict[str, Any]) -> Response:
        phone = payload.get("phone")
        code = payload.get("code")
        if not isinstance(phone, str):
            return _invalid("phone")
        if not isinstance(code, str):
            return _invalid("code")
        if not PHONE_RE.match(phone):
            return _error((40004, "Invalid phone number format"))
        if not CODE_RE.match(code):
            return _error((40005, "Invalid personal code format"))
        rejected = self._check_options(payload)
        if rejected is not None:
            return rejected

        persona = _BY_KEY.get((phone, code))
        if persona is None:
            return _error(_LOGIN_ERRORS[NOT_FOUND])
        if persona.outcome in _LOGIN_ERRORS:
            return _error(_LOGIN_ERRORS[persona.outcome])

        # Built before taking the state lock: the first call per person generates keys.
        certificate = self._certificate(persona.identity) if persona.identity else None
        session = self._start_session(
            str(uuid.uuid4()),
            persona,
            answers=persona.outcome != NEVER,
            peps=payload.get("peps") is True,
            sanctions=payload.get("sanctions") is True,
        )
        body: dict[str, Any] = {"status": "ok"}
        if certificate is not None:
            body["certificate"] = certificate
        body["code"] = persona.identity.code if persona.identity else code
        body["token"] = session.token
        body["control_code"] = session.control_code
        return json_response(body)

    def _certificate(self, identity: _Identity) -> dict[str, Any]:
        subject = person_subject(identity.country, identity.given_name, identity.surname, identity.code)
        return self._certs.certificate(identity.code, subject)

    @staticmethod
    def _check_options(payload: dict[str, Any]) -> Response | None:
        language = payload.get("language")
        if language is not None and language not in _LANGUAGES:
            return _invalid("language", "Invalid language")
        message_format = payload.get("message_format", "GSM-7")
        if message_format not in _MESSAGE_LIMITS:
            return _invalid("message_format", "Invalid message format")
        message = payload.get("message")
        if message is not None and (
            not isinstance(message, str) or len(message) > _MESSAGE_LIMITS[message_format]
        ):
            return _invalid("message", "Invalid message")
        for flag in ("peps", "sanctions"):
            if not isinstance(payload.get(flag, False), bool):
                return _invalid(flag)
        return None

    def _status(self, token: str) -> Response:
        polled = self._poll(token)
        if polled is None:
            return _error(_SESSION_NOT_FOUND)
        session, phase = polled
        persona = session.persona
        if phase is Phase.WAITING:
            return json_response({"status": "waiting"})
        if phase is Phase.EXPIRED:
            return _error(_SESSION_EXPIRED)
        if persona.outcome in _STATUS_ERRORS:
            return _error(_STATUS_ERRORS[persona.outcome])
        if persona.identity is None:
            return _error((50001, "Technical error"))
        identity = persona.identity
        return json_response(
            {
                "status": "ok",
                "country": identity.country,
                "certificate": self._certificate(identity),
                "code": identity.code,
                "name": identity.given_name,
                "token": session.token,
                "control_code": session.control_code,
                "surname": identity.surname,
                "sanctions_data": [dict(e) for e in identity.sanctions_data] if session.sanctions else [],
                "peps_data": [dict(e) for e in identity.peps_data] if session.peps else [],
            }
        )

    def _delete(self, token: str) -> Response:
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.deleted_at is not None:
                return error_response("Request number is invalid", 404)
            session.deleted_at = self._clock()
        return json_response({"status": "ok"})


def main(argv: list[str] | None = None) -> None:
    serve(
        argv,
        MarkSignSandbox,
        description="Serve the MarkSign gateway API sandbox alone.",
        port=8082,
        access_token="sandbox-marksign-token",
        banner="MarkSign sandbox on http://127.0.0.1:{port}/mobile/login.json (and /en/…)",
        personas=PERSONAS,
    )


if __name__ == "__main__":
    main()
