"""What every provider sandbox shares: session registry and call counters with ``stats()`` / ``reset()``,
werkzeug dispatch with JSON errors and the ``/_sandbox`` admin routes, the demo CA with per-person
certificates, the ``PERSONAS`` table shape and the stand-alone ``main()``.

A provider subclasses ``Sandbox``, lists its API rules and endpoint names, and implements ``_handle``;
``/_sandbox/stats`` (GET) and ``/_sandbox/reset`` (POST) come with it and need no access token.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import enum
import hashlib
import hmac
import json
import re
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, run_simple
from werkzeug.wrappers import Request, Response

from local.sandboxes.faults import FaultInjector

# Mobile-ID numbers of Lithuania, Estonia and Latvia, and their personal codes (LV with a dash).
PHONE_RE = re.compile(r"^\+(3706\d{7}|372\d{7,8}|3712\d{7})$")
CODE_RE = re.compile(r"^([3456]\d{2}(0[1-9]|1[0-2])\d{6}|\d{2}(0[1-9]|1[0-2])\d{2}-[123]\d{4})$")

# JSON responses


def json_response(body: Mapping[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json; charset=utf-8"
    )


def error_response(message: str, status: int, **extra: Any) -> Response:
    return json_response({"status": "error", "message": message, **extra}, status)


# PERSONAS


def personas_table(
    rows: Iterable[tuple[str, str, str, str, str]], unknown_outcome: str
) -> list[dict[str, str]]:
    """The public ``PERSONAS`` list from (persona, phone, personal code, country, outcome) rows."""
    keys = ("persona", "phone", "personal_code", "country", "outcome")
    unknown = ("unknown", "any other valid phone", "any other valid code", "-", unknown_outcome)
    return [dict(zip(keys, row, strict=True)) for row in (*rows, unknown)]


# Certificates

CA_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AS Sertifitseerimiskeskus"),
        x509.NameAttribute(NameOID.COMMON_NAME, "TEST of ESTEID-SK 2015"),
    ]
)
ONELINE_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SERIAL_NUMBER: "serialNumber",
}
SUBJECT_KEYS: dict[x509.ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "country",
    NameOID.ORGANIZATION_NAME: "organisation",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organisation_unit",
    NameOID.COMMON_NAME: "common_name",
    NameOID.SURNAME: "surname",
    NameOID.GIVEN_NAME: "name",
    NameOID.SERIAL_NUMBER: "serial_number",
}


def oneline(name: x509.Name) -> str:
    """OpenSSL's one-line form, e.g. ``/C=EE/CN=…/serialNumber=PNOEE-…``."""
    return "".join(f"/{ONELINE_NAMES.get(a.oid, a.oid.dotted_string)}={a.value}" for a in name)


def name_dict(name: x509.Name, *, complete: bool = False) -> dict[str, str | None]:
    """The name's attributes under ``SUBJECT_KEYS``; ``complete``: every key, None if absent."""
    if not complete:
        return {SUBJECT_KEYS[a.oid]: str(a.value) for a in name if a.oid in SUBJECT_KEYS}
    result: dict[str, str | None] = {}
    for oid, key in SUBJECT_KEYS.items():
        values = name.get_attributes_for_oid(oid)
        result[key] = str(values[0].value) if values else None
    return result


def person_subject(
    country: str,
    given_name: str,
    surname: str,
    code: str,
    *,
    organisation: str | None = None,
    unit: str | None = None,
) -> x509.Name:
    """An ESTEID-style subject: C, [O], [OU], CN=SURNAME,GIVEN,CODE, SN, GN, serialNumber=PNO{C}-{CODE}."""
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
    if organisation is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes += [
        x509.NameAttribute(NameOID.COMMON_NAME, f"{surname},{given_name},{code}"),
        x509.NameAttribute(NameOID.SURNAME, surname),
        x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNO{country}-{code}"),
    ]
    return x509.Name(attributes)


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


class CertificateFactory:
    """Demo CA "TEST of ESTEID-SK 2015" plus one EC P-256 client-auth leaf per person, made on first use.

    ``describe`` turns a leaf into the provider's JSON form; callers get deep copies of the cached form.
    """

    def __init__(self, describe: Callable[[x509.Certificate], dict[str, Any]]) -> None:
        self._describe = describe
        self._lock = threading.Lock()
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
        self._leaves: dict[str, dict[str, Any]] = {}

    def certificate(self, key: str, subject: x509.Name) -> dict[str, Any]:
        with self._lock:
            cached = self._leaves.get(key)
            if cached is None:
                cached = self._describe(self._issue(subject))
                self._leaves[key] = cached
            return copy.deepcopy(cached)

    def _ca_pair(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if self._ca is None:
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            cert = (
                x509.CertificateBuilder()
                .subject_name(CA_SUBJECT)
                .issuer_name(CA_SUBJECT)
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

    def _issue(self, subject: x509.Name) -> x509.Certificate:
        ca_key, ca_cert = self._ca_pair()
        key = ec.generate_private_key(ec.SECP256R1())
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


# Sessions and the WSGI app


class _Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=_Named)


@dataclass(kw_only=True)
class Session(Generic[P]):
    token: str
    persona: P
    created_at: float
    ready_at: float | None  # None: the person never answers
    control_code: str
    status_calls: int = 0
    first_final_served_at: float | None = None

    def stats(self) -> dict[str, Any]:
        """Timings without personal data: the token only as a short hash, the persona by its name."""
        return {
            "token_sha": hashlib.sha256(self.token.encode("ascii")).hexdigest()[:12],
            "persona": self.persona.name,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "status_calls": self.status_calls,
            "first_final_served_at": self.first_final_served_at,
            "control_code": self.control_code,
        }


S = TypeVar("S", bound=Session[Any])


class Phase(enum.Enum):
    """Where a status poll found its session."""

    UNAVAILABLE = "unavailable"  # the provider chose to fail this call (see Sandbox._unavailable)
    WAITING = "waiting"
    EXPIRED = "expired"  # session_ttl has passed
    FINAL = "final"  # ready: the persona's outcome is due


class Sandbox(ABC, Generic[S]):
    """WSGI app with the session registry, call counters and admin routes every sandbox has."""

    # Set by the local stack from SANDBOX_FAULT_RATE: a share of API answers become faults.
    faults: FaultInjector | None = None
    # The provider API's endpoints (faults never hit the end user's pages); None: all of them.
    fault_endpoints: tuple[str, ...] | None = None

    def __init__(
        self,
        *,
        access_token: str,
        ok_after: float,
        session_ttl: float,
        clock: Callable[[], float],
        session_type: Callable[..., S],
        endpoints: Iterable[str],
        rules: Iterable[Rule],
    ) -> None:
        self._access_token = access_token.encode("utf-8")
        self._ok_after = ok_after
        self._session_ttl = session_ttl
        self._clock = clock
        self._session_type = session_type
        self._endpoints = tuple(endpoints)
        self._lock = threading.Lock()
        self._sessions: dict[str, S] = {}
        self._calls = dict.fromkeys(self._endpoints, 0)
        self._url_map = Map(
            [
                *rules,
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
                "sessions": [s.stats() for s in self._sessions.values()],
                **({"faults": self.faults.stats()} if self.faults else {}),
            }

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._calls = dict.fromkeys(self._endpoints, 0)

    @abstractmethod
    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        """Answer an API call; it has been counted already, but its access token is not checked yet."""

    def _dispatch(self, request: Request) -> Response:
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return error_response("Method not allowed", 405)
        except NotFound:
            return error_response("Not found", 404)
        except HTTPException as exc:
            return error_response(exc.name, exc.code or 400)
        if endpoint == "stats":
            return json_response(self.stats())
        if endpoint == "reset":
            self.reset()
            return json_response({"status": "ok"})
        with self._lock:
            self._calls[endpoint] += 1
        if self.faults is not None and endpoint in (self.fault_endpoints or self._endpoints):
            kind = self.faults.draw()
            if kind is not None:
                return self.faults.respond(kind, request)
        return self._handle(endpoint, request, args)

    def _token_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), self._access_token)

    def _start_session(self, token: str, persona: Any, *, answers: bool, **extra: Any) -> S:
        """Register a new session, ready ``ok_after`` seconds from now unless it never ``answers``."""
        control_code = f"{secrets.randbelow(10000):04d}"
        with self._lock:
            now = self._clock()
            session = self._session_type(
                token=token,
                persona=persona,
                created_at=now,
                ready_at=now + self._ok_after if answers else None,
                control_code=control_code,
                **extra,
            )
            self._sessions[token] = session
        return session

    def _poll(self, token: str) -> tuple[S, Phase] | None:
        """Count a status call and say where its session stands; None for an unknown (or closed) session.

        The first EXPIRED or FINAL answer is recorded as ``first_final_served_at``.
        """
        with self._lock:
            session = self._sessions.get(token)
            if session is None or not self._is_open(session):
                return None
            session.status_calls += 1
            now = self._clock()
            if self._unavailable(session):
                return session, Phase.UNAVAILABLE
            if now >= session.created_at + self._session_ttl:
                phase = Phase.EXPIRED
            elif session.ready_at is None or now < session.ready_at:
                return session, Phase.WAITING
            else:
                phase = Phase.FINAL
            if session.first_final_served_at is None:
                session.first_final_served_at = now
            return session, phase

    def _is_open(self, session: S) -> bool:
        return True

    def _unavailable(self, session: S) -> bool:
        """Whether this (already counted) status call fails with the service unavailable."""
        return False


# Serving one sandbox alone

DEFAULT_TOKEN_IN_PATH = re.compile(r"(/status/|/session/)[^/]+?(\.json)?$")


def _quiet_handler(token_in_path: re.Pattern[str]) -> type[WSGIRequestHandler]:
    class QuietRequestHandler(WSGIRequestHandler):
        """Request log without query strings or session tokens."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = token_in_path.sub(r"\1…\2", urlsplit(getattr(self, "path", "")).path)
            self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)

    return QuietRequestHandler


def serve(
    argv: list[str] | None,
    sandbox: Callable[..., Any],
    *,
    description: str,
    port: int,
    access_token: str,
    banner: str,
    personas: Iterable[Mapping[str, str]],
    token_in_path: re.Pattern[str] = DEFAULT_TOKEN_IN_PATH,
) -> None:
    """Command line of ``python -m local.sandboxes.<provider>``; ``banner`` may use ``{port}``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--ok-after", type=float, default=7.0)
    parser.add_argument("--session-ttl", type=float, default=300.0)
    parser.add_argument("--access-token", default=access_token)
    args = parser.parse_args(argv)
    app = sandbox(access_token=args.access_token, ok_after=args.ok_after, session_ttl=args.session_ttl)
    print(banner.format(port=args.port))
    for p in personas:
        print(f"  {p['phone']:>22} {p['personal_code']:>20}  {p['persona']:<15} {p['outcome']}")
    run_simple("127.0.0.1", args.port, app, threaded=True, request_handler=_quiet_handler(token_in_path))
