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

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, run_simple
from werkzeug.wrappers import Request, Response

__all__ = ["PERSONAS", "DokobitSandbox", "main"]

PHONE_RE = re.compile(r"^\+(3706\d{7}|372\d{7,8}|3712\d{7})$")
CODE_RE = re.compile(r"^([3456]\d{2}(0[1-9]|1[0-2])\d{6}|\d{2}(0[1-9]|1[0-2])\d{2}-[123]\d{4})$")

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

PERSONAS: list[dict[str, str]] = [
    {
        "persona": p.name,
        "phone": p.phone,
        "personal_code": p.code,
        "country": p.country,
        "outcome": p.description,
    }
    for p in _PERSONA_LIST
] + [
    {
        "persona": "unknown",
        "phone": "any other valid phone",
        "personal_code": "any other valid code",
        "country": "-",
        "outcome": "login answers error 6001 (not a Mobile-ID user)",
    },
]

_ONELINE_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SERIAL_NUMBER: "serialNumber",
}
_SUBJECT_KEYS: dict[x509.ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "country",
    NameOID.ORGANIZATION_NAME: "organisation",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organisation_unit",
    NameOID.COMMON_NAME: "common_name",
    NameOID.SURNAME: "surname",
    NameOID.GIVEN_NAME: "name",
    NameOID.SERIAL_NUMBER: "serial_number",
}


def _name_dict(name: x509.Name) -> dict[str, str]:
    return {_SUBJECT_KEYS[a.oid]: str(a.value) for a in name if a.oid in _SUBJECT_KEYS}


def _oneline(name: x509.Name) -> str:
    return "".join(f"/{_ONELINE_NAMES.get(a.oid, a.oid.dotted_string)}={a.value}" for a in name)


class _CertificateFactory:
    """Demo CA plus one leaf per person, generated on first use and cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
        self._leaves: dict[str, dict[str, Any]] = {}

    def _ca_pair(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if self._ca is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AS Sertifitseerimiskeskus"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "TEST of ESTEID-SK 2015"),
                ]
            )
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=730))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=False,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            self._ca = (key, cert)
        return self._ca

    def certificate(self, persona: _Persona) -> dict[str, Any]:
        with self._lock:
            cached = self._leaves.get(persona.name)
            if cached is None:
                cached = self._issue(persona)
                self._leaves[persona.name] = cached
            return dict(cached)

    def _issue(self, persona: _Persona) -> dict[str, Any]:
        ca_key, ca_cert = self._ca_pair()
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, persona.country),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ESTEID (MOBIIL-ID)"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "authentication"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"{persona.surname},{persona.given_name},{persona.code}"
                ),
                x509.NameAttribute(NameOID.SURNAME, persona.surname),
                x509.NameAttribute(NameOID.GIVEN_NAME, persona.given_name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNO{persona.country}-{persona.code}"),
            ]
        )
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=365))
            .not_valid_after(now + dt.timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return {
            "name": _oneline(cert.subject),
            "subject": _name_dict(cert.subject),
            "issuer": _name_dict(cert.issuer),
            "valid_from": cert.not_valid_before_utc.isoformat(),
            "valid_to": cert.not_valid_after_utc.isoformat(),
            "value": base64.b64encode(pem).decode("ascii"),
        }


@dataclass
class _Session:
    token: str
    persona: _Persona
    created_at: float
    ready_at: float | None
    control_code: str = ""
    status_calls: int = 0
    first_final_served_at: float | None = None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json; charset=utf-8"
    )


def _error(message: str, status: int, **extra: Any) -> Response:
    return _json({"status": "error", "message": message, **extra}, status)


class DokobitSandbox:
    """WSGI fake of the Dokobit Identity API Mobile-ID login flow."""

    def __init__(
        self,
        access_token: str = "sandbox-dokobit-token",
        ok_after: float = 7.0,
        session_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_token = access_token.encode("utf-8")
        self._ok_after = ok_after
        self._session_ttl = session_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._certs = _CertificateFactory()
        self._sessions: dict[str, _Session] = {}
        self._calls = {"login": 0, "status": 0}
        self._url_map = Map(
            [
                Rule("/v2/mobile/login.json", methods=["POST"], endpoint="login"),
                Rule("/v2/mobile/login/status/<token>.json", methods=["GET"], endpoint="status"),
                Rule("/_sandbox/stats", methods=["GET"], endpoint="stats"),
                Rule("/_sandbox/reset", methods=["POST"], endpoint="reset"),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        return self._dispatch(request)(environ, start_response)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self._calls),
                "sessions": [
                    {
                        "token_sha": hashlib.sha256(s.token.encode("ascii")).hexdigest()[:12],
                        "persona": s.persona.name,
                        "created_at": s.created_at,
                        "ready_at": s.ready_at,
                        "status_calls": s.status_calls,
                        "first_final_served_at": s.first_final_served_at,
                        "control_code": s.control_code,
                    }
                    for s in self._sessions.values()
                ],
            }

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._calls = {"login": 0, "status": 0}

    def _dispatch(self, request: Request) -> Response:
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return _error("Method not allowed", 405)
        except NotFound:
            return _error("Not found", 404)
        except HTTPException as exc:
            return _error(exc.name, exc.code or 400)
        if endpoint == "stats":
            return _json(self.stats())
        if endpoint == "reset":
            self.reset()
            return _json({"status": "ok"})
        with self._lock:
            self._calls[endpoint] += 1
        if not self._token_ok(request):
            return _error("Invalid access token", 403)
        if endpoint == "login":
            return self._login(request)
        return self._status(args["token"])

    def _token_ok(self, request: Request) -> bool:
        given = request.args.get("access_token", "").encode("utf-8")
        return hmac.compare_digest(given, self._access_token)

    def _login(self, request: Request) -> Response:
        phone = request.form.get("phone", "").strip()
        code = request.form.get("code", "").strip()
        errors = []
        if not PHONE_RE.match(phone):
            errors.append("phone")
        if not CODE_RE.match(code):
            errors.append("code")
        if errors:
            return _error("Request data is invalid", 400, errors=errors)

        persona = _BY_KEY.get((phone, code))
        if persona is None or persona.outcome == NOT_USER:
            return _json(_NOT_USER_BODY)
        if persona.outcome == OUTAGE:
            return _error("Internal server error", 500)

        body: dict[str, Any] = {"status": "ok"}
        # Built before taking the state lock: the first call per person generates keys.
        identity = self._identity(persona) if persona.outcome in (OK, FLAKY) else {}
        token = secrets.token_hex(20)
        control_code = f"{secrets.randbelow(10000):04d}"
        with self._lock:
            now = self._clock()
            ready_at = None if persona.outcome == NEVER else now + self._ok_after
            self._sessions[token] = _Session(
                token=token, persona=persona, created_at=now, ready_at=ready_at, control_code=control_code
            )
        body["token"] = token
        body["control_code"] = control_code
        body.update(identity)
        return _json(body)

    def _identity(self, persona: _Persona) -> dict[str, Any]:
        return {
            "name": persona.given_name,
            "surname": persona.surname,
            "code": persona.code,
            "country": persona.country,
            "certificate": self._certs.certificate(persona),
        }

    def _status(self, token: str) -> Response:
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return _error("Session not found", 404)
            session.status_calls += 1
            now = self._clock()
            persona = session.persona
            if persona.outcome == FLAKY and session.status_calls == 1:
                return _error("Service unavailable", 503)
            body: dict[str, Any] | None = None
            if now >= session.created_at + self._session_ttl:
                body = dict(_EXPIRED_BODY)
            elif session.ready_at is None or now < session.ready_at:
                return _json({"status": "waiting"})
            elif persona.outcome in _STATUS_ERRORS:
                error_code, message = _STATUS_ERRORS[persona.outcome]
                body = {"status": "error", "message": message, "error_code": error_code}
            if session.first_final_served_at is None:
                session.first_final_served_at = now
        if body is None:
            body = {"status": "ok", **self._identity(persona)}
        return _json(body)


class _QuietRequestHandler(WSGIRequestHandler):
    """Request log without query strings or session tokens."""

    _TOKEN_IN_PATH = re.compile(r"(/status/)[^/]+(\.json)$")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self._TOKEN_IN_PATH.sub(r"\1…\2", urlsplit(getattr(self, "path", "")).path)
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Dokobit Identity API sandbox alone.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--ok-after", type=float, default=7.0)
    parser.add_argument("--session-ttl", type=float, default=300.0)
    parser.add_argument("--access-token", default="sandbox-dokobit-token")
    args = parser.parse_args(argv)
    app = DokobitSandbox(access_token=args.access_token, ok_after=args.ok_after, session_ttl=args.session_ttl)
    print(f"Dokobit sandbox on http://127.0.0.1:{args.port}/v2/mobile/login.json")
    for p in PERSONAS:
        print(f"  {p['phone']:>22} {p['personal_code']:>20}  {p['persona']:<15} {p['outcome']}")
    run_simple("127.0.0.1", args.port, app, threaded=True, request_handler=_QuietRequestHandler)


if __name__ == "__main__":
    main()
