"""The engine the Dokobit and MarkSign sandboxes share: personas, sessions that the person answers
``ok_after`` seconds after the login, control codes, status polling, demo certificates. A provider
module adds only its wire dialect: routes, field names, where the access token rides, error codes.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from local.sandboxes.base import Sandbox, json_response, same

# Mobile-ID numbers of Lithuania, Estonia and Latvia, and their personal codes (LV with a dash).
PHONE_RE = re.compile(r"^\+(3706\d{7}|372\d{7,8}|3712\d{7})$")
CODE_RE = re.compile(r"^([3456]\d{2}(0[1-9]|1[0-2])\d{6}|\d{2}(0[1-9]|1[0-2])\d{2}-[123]\d{4})$")
_COUNTRY_OF_PHONE = {"+370": "LT", "+371": "LV", "+372": "EE"}

# What a persona does. The first four end the login; the others answer the status calls once ready.
NOT_USER = "not-user"
OUTAGE = "outage"
NO_CERTIFICATE = "no-certificate"
UNAUTHORIZED = "unauthorized"
OK = "ok"
NEVER = "never"  # waits until session_ttl, then expires
PHONE_FAILED = "phone-failed"
CANCELLED = "cancelled"
EXPIRED = "expired"
AT_LOGIN = frozenset({NOT_USER, OUTAGE, NO_CERTIFICATE, UNAUTHORIZED})
# Answers that are no persona's outcome: a status call of a faulty persona, of an unknown session.
UNAVAILABLE = "unavailable"
SESSION_NOT_FOUND = "session-not-found"


@dataclass(frozen=True)
class Person:
    code: str
    country: str
    given_name: str
    surname: str
    peps_data: tuple[dict[str, str], ...] = ()
    sanctions_data: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Persona:
    name: str
    key: tuple[str, str]  # (phone, personal code)
    outcome: str = OK
    person: Person | None = None  # who confirms: whose names and certificate the provider returns
    faults: int = 0  # the first status calls of each session that answer UNAVAILABLE

    @property
    def country(self) -> str:
        return self.person.country if self.person else _COUNTRY_OF_PHONE[self.key[0][:4]]


@dataclass(kw_only=True)
class Session:
    token: str
    persona: Persona
    created_at: float
    ready_at: float | None  # None: the person never answers
    control_code: str
    status_calls: int = 0
    first_final_served_at: float | None = None
    peps: bool = False
    sanctions: bool = False
    deleted_at: float | None = None

    def stats(self, *, deletable: bool) -> dict[str, Any]:
        """Timings without personal data: the token only as a short hash, the persona by its name."""
        return {
            "token_sha": hashlib.sha256(self.token.encode("ascii")).hexdigest()[:12],
            "persona": self.persona.name,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "status_calls": self.status_calls,
            "first_final_served_at": self.first_final_served_at,
            "control_code": self.control_code,
            **({"deleted_at": self.deleted_at} if deletable else {}),
        }


class GatewaySandbox(Sandbox, ABC):
    """Sessions of the class's ``personas``; a subclass parses requests and renders the answers."""

    personas: ClassVar[tuple[Persona, ...]] = ()
    # outcome -> (error code, message); a code below 1000 is an HTTP status and the body has no code.
    errors: ClassVar[dict[str, tuple[int, str]]] = {}
    deletable: ClassVar[bool] = False
    subject_attributes: ClassVar[dict[str, str]] = {}  # organisation / unit of the certificates

    def __init__(
        self,
        *,
        access_token: str,
        ok_after: float,
        session_ttl: float,
        clock: Callable[[], float],
        rules: Iterable[Rule],
        describe: Callable[[x509.Certificate], dict[str, Any]],
    ) -> None:
        super().__init__(rules, clock)
        self._access_token = access_token
        self._ok_after = ok_after
        self._session_ttl = session_ttl
        self._certs = CertificateFactory(describe)
        self._by_key = {p.key: p for p in self.personas}
        self._sessions: dict[str, Session] = {}

    @classmethod
    def http_status(cls, error_code: int) -> int:
        return 200

    @classmethod
    def wire_code(cls, code: int, message: str) -> tuple[int, dict[str, Any]]:
        """The HTTP status and body of a provider error."""
        if code < 1000:
            return code, {"status": "error", "message": message}
        return cls.http_status(code), {"status": "error", "message": message, "error_code": code}

    @classmethod
    def wire(cls, outcome: str) -> tuple[int, dict[str, Any]]:
        return cls.wire_code(*cls.errors[outcome])

    @classmethod
    def persona_rows(cls) -> list[dict[str, str]]:
        """The public ``PERSONAS`` table: each persona's identifiers and what it does."""
        rows = [(p.name, *p.key, p.country, cls._describe_persona(p)) for p in cls.personas]
        unknown = f"login answers {cls._label(NOT_USER)}"
        rows.append(("unknown", "any other valid phone", "any other valid code", "-", unknown))
        keys = ("persona", "phone", "personal_code", "country", "outcome")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    @classmethod
    def _label(cls, outcome: str) -> str:
        status, body = cls.wire(outcome)
        return f"{body['error_code']} (HTTP {status})" if "error_code" in body else f"HTTP {status}"

    @classmethod
    def _describe_persona(cls, p: Persona) -> str:
        if p.outcome in AT_LOGIN:
            return f"login answers {cls._label(p.outcome)}"
        wait, final = ("session_ttl", EXPIRED) if p.outcome == NEVER else ("ok_after", p.outcome)
        end = "ok with identity" if final == OK else cls._label(final)
        if p.person and p.person.code != p.key[1]:
            end += f" of another person ({p.person.code})"
        if p.person and p.person.peps_data:
            end += ", PEP and sanctions data when asked for"
        faults = f"the first {p.faults} status call(s) answer {cls._label(UNAVAILABLE)}; " if p.faults else ""
        return f"{faults}status waiting until {wait}, then {end}"

    def _state(self) -> dict[str, Any]:
        return {"sessions": [s.stats(deletable=self.deletable) for s in self._sessions.values()]}

    def _clear(self) -> None:
        self._sessions.clear()

    def _token_ok(self, given: object) -> bool:
        return same(given, self._access_token)

    def _error(self, outcome: str) -> Response:
        status, body = self.wire(outcome)
        return json_response(body, status)

    def _certificate(self, person: Person) -> dict[str, Any]:
        subject = person_subject(
            person.country, person.given_name, person.surname, person.code, **self.subject_attributes
        )
        return self._certs.certificate(person.code, subject)

    @abstractmethod
    def _new_token(self) -> str: ...

    @abstractmethod
    def _login_ok(self, session: Session, certificate: dict[str, Any] | None) -> Response: ...

    @abstractmethod
    def _status_ok(self, session: Session, person: Person, certificate: dict[str, Any]) -> Response: ...

    def _login(self, key: tuple[str, str], *, peps: bool = False, sanctions: bool = False) -> Response:
        persona = self._by_key.get(key) or Persona("unknown", key, NOT_USER)
        if persona.outcome in AT_LOGIN:
            return self._error(persona.outcome)
        # Built before taking the state lock: the first call per person generates keys.
        certificate = self._certificate(persona.person) if persona.person else None
        control_code = f"{secrets.randbelow(10000):04d}"
        with self._lock:
            now = self._clock()
            session = Session(
                token=self._new_token(),
                persona=persona,
                created_at=now,
                ready_at=None if persona.outcome == NEVER else now + self._ok_after,
                control_code=control_code,
                peps=peps,
                sanctions=sanctions,
            )
            self._sessions[session.token] = session
        return self._login_ok(session, certificate)

    def _status(self, token: str) -> Response:
        """Count a status call and answer where its session stands; the first final answer is recorded."""
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.deleted_at is not None:
                return self._error(SESSION_NOT_FOUND)
            session.status_calls += 1
            now = self._clock()
            if session.status_calls <= session.persona.faults:
                return self._error(UNAVAILABLE)
            expired = now >= session.created_at + self._session_ttl
            if not expired and (session.ready_at is None or now < session.ready_at):
                return json_response({"status": "waiting"})
            if session.first_final_served_at is None:
                session.first_final_served_at = now
        outcome, person = EXPIRED if expired else session.persona.outcome, session.persona.person
        if outcome != OK or person is None:
            return self._error(outcome)
        return self._status_ok(session, person, self._certificate(person))

    def _delete(self, token: str) -> bool:
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.deleted_at is not None:
                return False
            session.deleted_at = self._clock()
            return True


# Certificates

# (attribute, its OpenSSL one-line name, the providers' JSON key)
_NAME_PARTS = (
    (NameOID.COUNTRY_NAME, "C", "country"),
    (NameOID.ORGANIZATION_NAME, "O", "organisation"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "OU", "organisation_unit"),
    (NameOID.COMMON_NAME, "CN", "common_name"),
    (NameOID.SURNAME, "SN", "surname"),
    (NameOID.GIVEN_NAME, "GN", "name"),
    (NameOID.SERIAL_NUMBER, "serialNumber", "serial_number"),
)


def oneline(name: x509.Name) -> str:
    """OpenSSL's one-line form, e.g. ``/C=EE/CN=…/serialNumber=PNOEE-…``."""
    short = {oid: text for oid, text, _ in _NAME_PARTS}
    return "".join(f"/{short.get(a.oid, a.oid.dotted_string)}={a.value}" for a in name)


def name_dict(name: x509.Name, *, complete: bool = False) -> dict[str, str | None]:
    """The name's attributes under the providers' keys; ``complete``: every key, None if absent."""
    values = {key: name.get_attributes_for_oid(oid) for oid, _, key in _NAME_PARTS}
    result = {key: str(found[0].value) if found else None for key, found in values.items()}
    return result if complete else {key: value for key, value in result.items() if value is not None}


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value])


def person_subject(
    country: str, given_name: str, surname: str, code: str, *, organisation: str = "", unit: str = ""
) -> x509.Name:
    """An ESTEID-style subject: C, [O], [OU], CN=SURNAME,GIVEN,CODE, SN, GN, serialNumber=PNO{C}-{CODE}."""
    return _name(
        (NameOID.COUNTRY_NAME, country),
        (NameOID.ORGANIZATION_NAME, organisation),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        (NameOID.COMMON_NAME, f"{surname},{given_name},{code}"),
        (NameOID.SURNAME, surname),
        (NameOID.GIVEN_NAME, given_name),
        (NameOID.SERIAL_NUMBER, f"PNO{country}-{code}"),
    )


_UNUSED = dict.fromkeys(
    ("content_commitment", "key_encipherment", "data_encipherment", "encipher_only", "decipher_only"), False
)


def _certificate(
    subject: x509.Name, issuer: x509.Name, signing_key: ec.EllipticCurvePrivateKey | None, *, ca: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A CA (self-signed when no signing key is given) or an EC P-256 client-authentication leaf."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    usage = x509.KeyUsage(
        digital_signature=not ca, key_agreement=not ca, key_cert_sign=ca, crl_sign=ca, **_UNUSED
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=730 if ca else 365))
        .not_valid_after(now + dt.timedelta(days=3650 if ca else 3 * 365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(usage, critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return key, builder.sign(signing_key or key, hashes.SHA256())


class CertificateFactory:
    """A demo CA ("TEST of ESTEID-SK 2015" unless named otherwise) and one EC P-256 client-auth leaf per
    key, made on first use; ``describe`` gives the provider's JSON form, handed out as deep copies."""

    def __init__(
        self, describe: Callable[[x509.Certificate], dict[str, Any]], ca_name: str = "TEST of ESTEID-SK 2015"
    ) -> None:
        self._describe = describe
        self._ca_subject = _name(
            (NameOID.COUNTRY_NAME, "EE"),
            (NameOID.ORGANIZATION_NAME, "AS Sertifitseerimiskeskus"),
            (NameOID.COMMON_NAME, ca_name),
        )
        self._lock = threading.Lock()
        self._ca_key: ec.EllipticCurvePrivateKey | None = None
        self._leaves: dict[str, dict[str, Any]] = {}

    def certificate(self, key: str, subject: x509.Name) -> dict[str, Any]:
        with self._lock:
            if self._ca_key is None:
                self._ca_key = _certificate(self._ca_subject, self._ca_subject, None, ca=True)[0]
            if key not in self._leaves:
                leaf = _certificate(subject, self._ca_subject, self._ca_key, ca=False)[1]
                self._leaves[key] = self._describe(leaf)
            return copy.deepcopy(self._leaves[key])
