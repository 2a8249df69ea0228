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
import uuid
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

from local.sandboxes.dokobit import CODE_RE, PHONE_RE

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

PERSONAS: list[dict[str, str]] = [
    {
        "persona": p.name,
        "phone": p.phone,
        "personal_code": p.code,
        "country": "EE",
        "outcome": p.description,
    }
    for p in _PERSONA_LIST
] + [
    {
        "persona": "unknown",
        "phone": "any other valid phone",
        "personal_code": "any other valid code",
        "country": "-",
        "outcome": "login answers 40401 (HTTP 404)",
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
_ISSUER_KEYS = (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME)


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _key_usage(*, digital_signature: bool, key_agreement: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


class _CertificateFactory:
    """Demo CA plus one leaf per person, generated on first use and cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
        self._leaves: dict[str, dict[str, Any]] = {}

    def certificate(self, identity: _Identity) -> dict[str, Any]:
        with self._lock:
            cached = self._leaves.get(identity.code)
            if cached is None:
                cached = self._describe(self._issue(identity))
                self._leaves[identity.code] = cached
            return json.loads(json.dumps(cached))

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
                    _key_usage(digital_signature=False, key_agreement=False, cert_sign=True), critical=True
                )
                .sign(key, hashes.SHA256())
            )
            self._ca = (key, cert)
        return self._ca

    def _issue(self, identity: _Identity) -> x509.Certificate:
        ca_key, ca_cert = self._ca_pair()
        key = ec.generate_private_key(ec.SECP256R1())
        # Same attributes and order as the documented sample: no O / OU.
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, identity.country),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"{identity.surname},{identity.given_name},{identity.code}"
                ),
                x509.NameAttribute(NameOID.SURNAME, identity.surname),
                x509.NameAttribute(NameOID.GIVEN_NAME, identity.given_name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNO{identity.country}-{identity.code}"),
            ]
        )
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=365))
            .not_valid_after(now + dt.timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, key_agreement=True, cert_sign=False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

    @staticmethod
    def _describe(cert: x509.Certificate) -> dict[str, Any]:
        der = cert.public_bytes(serialization.Encoding.DER)
        return {
            "name": "".join(
                f"/{_ONELINE_NAMES.get(a.oid, a.oid.dotted_string)}={a.value}" for a in cert.subject
            ),
            "subject": {key: _attr(cert.subject, oid) for oid, key in _SUBJECT_KEYS.items()},
            "issuer": {_SUBJECT_KEYS[oid]: _attr(cert.issuer, oid) for oid in _ISSUER_KEYS},
            "valid_from": cert.not_valid_before_utc.date().isoformat(),
            "valid_to": cert.not_valid_after_utc.date().isoformat(),
            # The gateway encodes twice: one decode yields the base64 text "MII…", the second the DER.
            "value": base64.b64encode(base64.b64encode(der)).decode("ascii"),
        }


@dataclass
class _Session:
    token: str
    persona: _Persona
    created_at: float
    ready_at: float | None
    control_code: str
    peps: bool
    sanctions: bool
    status_calls: int = 0
    first_final_served_at: float | None = None
    deleted_at: float | None = None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json; charset=utf-8"
    )


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
    return _json({"status": "error", "message": message, "error_code": code}, _http_status(code))


def _invalid(parameter: str, reason: str = "") -> Response:
    message = f"Invalid parameter [{parameter}]" + (f": {reason}" if reason else "")
    return _error((40001, message))


class MarkSignSandbox:
    """WSGI fake of the MarkSign gateway Mobile-ID login flow."""

    def __init__(
        self,
        access_token: str = "sandbox-marksign-token",
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
        self._calls = {"login": 0, "status": 0, "delete": 0}
        rules = [
            Rule("/_sandbox/stats", methods=["GET"], endpoint="stats"),
            Rule("/_sandbox/reset", methods=["POST"], endpoint="reset"),
        ]
        for prefix in ("", "/en"):
            rules += [
                Rule(f"{prefix}/mobile/login.json", methods=["POST"], endpoint="login"),
                Rule(f"{prefix}/mobile/status/<token>.json", methods=["POST"], endpoint="status"),
                Rule(f"{prefix}/api/mobile/session/<token>", methods=["DELETE"], endpoint="delete"),
            ]
        self._url_map = Map(rules)

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
                        "deleted_at": s.deleted_at,
                    }
                    for s in self._sessions.values()
                ],
            }

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._calls = {"login": 0, "status": 0, "delete": 0}

    def _dispatch(self, request: Request) -> Response:
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return _json({"status": "error", "message": "Method not allowed"}, 405)
        except NotFound:
            return _json({"status": "error", "message": "Not found"}, 404)
        except HTTPException as exc:
            return _json({"status": "error", "message": exc.name}, exc.code or 400)
        if endpoint == "stats":
            return _json(self.stats())
        if endpoint == "reset":
            self.reset()
            return _json({"status": "ok"})
        with self._lock:
            self._calls[endpoint] += 1
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

    @staticmethod
    def _payload(request: Request) -> dict[str, Any] | None:
        if not request.get_data(cache=True):
            return {}
        if not request.is_json:
            return None
        payload = request.get_json(silent=True)
        return payload if isinstance(payload, dict) else None

    def _token_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), self._access_token)

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
        certificate = self._certs.certificate(persona.identity) if persona.identity else None
        token = str(uuid.uuid4())
        control_code = f"{secrets.randbelow(10000):04d}"
        with self._lock:
            now = self._clock()
            self._sessions[token] = _Session(
                token=token,
                persona=persona,
                created_at=now,
                ready_at=None if persona.outcome == NEVER else now + self._ok_after,
                control_code=control_code,
                peps=payload.get("peps") is True,
                sanctions=payload.get("sanctions") is True,
            )
        body: dict[str, Any] = {"status": "ok"}
        if certificate is not None:
            body["certificate"] = certificate
        body["code"] = persona.identity.code if persona.identity else code
        body["token"] = token
        body["control_code"] = control_code
        return _json(body)

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
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.deleted_at is not None:
                return _error(_SESSION_NOT_FOUND)
            session.status_calls += 1
            now = self._clock()
            persona = session.persona
            error: tuple[int, str] | None = None
            if now >= session.created_at + self._session_ttl:
                error = _SESSION_EXPIRED
            elif session.ready_at is None or now < session.ready_at:
                return _json({"status": "waiting"})
            elif persona.outcome in _STATUS_ERRORS:
                error = _STATUS_ERRORS[persona.outcome]
            if session.first_final_served_at is None:
                session.first_final_served_at = now
        if error is not None or persona.identity is None:
            return _error(error or (50001, "Technical error"))
        identity = persona.identity
        return _json(
            {
                "status": "ok",
                "country": identity.country,
                "certificate": self._certs.certificate(identity),
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
                return _json({"status": "error", "message": "Request number is invalid"}, 404)
            session.deleted_at = self._clock()
        return _json({"status": "ok"})


class _QuietRequestHandler(WSGIRequestHandler):
    """Request log without query strings or session tokens."""

    _TOKEN_IN_PATH = re.compile(r"(/status/|/session/)[^/]+?(\.json)?$")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self._TOKEN_IN_PATH.sub(r"\1…\2", urlsplit(getattr(self, "path", "")).path)
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the MarkSign gateway API sandbox alone.")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--ok-after", type=float, default=7.0)
    parser.add_argument("--session-ttl", type=float, default=300.0)
    parser.add_argument("--access-token", default="sandbox-marksign-token")
    args = parser.parse_args(argv)
    app = MarkSignSandbox(
        access_token=args.access_token, ok_after=args.ok_after, session_ttl=args.session_ttl
    )
    print(f"MarkSign sandbox on http://127.0.0.1:{args.port}/mobile/login.json (and /en/…)")
    for p in PERSONAS:
        print(f"  {p['phone']:>22} {p['personal_code']:>20}  {p['persona']:<15} {p['outcome']}")
    run_simple("127.0.0.1", args.port, app, threaded=True, request_handler=_QuietRequestHandler)


if __name__ == "__main__":
    main()
