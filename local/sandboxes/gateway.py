"""The engine the Dokobit and MarkSign sandboxes share for Mobile-ID and Smart-ID: personas, sessions
that the person answers ``ok_after`` seconds after the login, control codes, status polling, demo
certificates. A provider module adds only its wire dialect: routes, fields, token placement, error codes.
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
from dataclasses import dataclass, field
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
_EE_LT_CODE, _LV_CODE = r"[3456]\d{2}(0[1-9]|1[0-2])\d{6}", r"\d{2}(0[1-9]|1[0-2])\d{2}-[123]\d{4}"
CODE_RE = re.compile(f"^({_EE_LT_CODE}|{_LV_CODE})$")
# Smart-ID: the personal code's format by country (LV in the documents' form, with the dash).
SMART_ID_CODE_RE = {
    country: re.compile(f"^{pattern}$")
    for country, pattern in (("EE", _EE_LT_CODE), ("LT", _EE_LT_CODE), ("LV", _LV_CODE))
}
_COUNTRY_OF_PHONE = {"+370": "LT", "+371": "LV", "+372": "EE"}

# What a persona does. Those AT_LOGIN end the login; the others answer the status calls once ready.
NOT_USER = "not-user"
OUTAGE = "outage"
NO_CERTIFICATE = "no-certificate"
UNAUTHORIZED = "unauthorized"
NO_ACCOUNT = "no-account"  # Smart-ID
NOT_QUALIFIED = "not-qualified"  # Smart-ID: the account's level cannot log in here
OK = "ok"
NEVER = "never"  # waits until session_ttl, then expires
PHONE_FAILED = "phone-failed"
CANCELLED = "cancelled"
EXPIRED = "expired"
REFUSED = "refused"  # Smart-ID
WRONG_VC = "wrong-vc"  # Smart-ID: the person chose another verification code
UNUSABLE = "unusable"  # Smart-ID: the person must check the app or the self-service portal
AT_LOGIN = frozenset({NOT_USER, OUTAGE, NO_CERTIFICATE, UNAUTHORIZED, NO_ACCOUNT, NOT_QUALIFIED})
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
    key: tuple[str, str]  # (phone, personal code); Smart-ID: (country, personal code)
    outcome: str = OK
    person: Person | None = None  # who confirms: whose names and certificate the provider returns
    faults: int = 0  # the first status calls of each session that answer UNAVAILABLE
    smart_id: bool = False

    @property
    def country(self) -> str:
        if self.person:
            return self.person.country
        return self.key[0] if self.smart_id else _COUNTRY_OF_PHONE.get(self.key[0][:4], "-")


def _smart_id(name: str, outcome: str, accounts: str, given: str = "", faults: int = 0) -> list[Persona]:
    """One persona for each ``COUNTRY:code`` of ``accounts``; ``given``: the name of who confirms."""
    personas = []
    for account in accounts.split():
        country, code = account.split(":")
        person = Person(code, country, given, "TESTNUMBER") if given else None
        personas.append(Persona(name, (country, code), outcome, person, faults, smart_id=True))
    return personas


# SK's published Smart-ID demo accounts of each outcome; the last two outcomes have none.
SMART_ID_PERSONAS: tuple[Persona, ...] = (
    *_smart_id("sid-ok-ee", OK, "EE:40504040001", given="ONA"),
    *_smart_id("sid-ok-lt", OK, "LT:40504040001", given="ONA"),
    *_smart_id("sid-ok-lv", OK, "LV:050405-10009", given="JANIS"),
    *_smart_id("sid-ok1", OK, "LT:30303039914 EE:30303039914", given="QUALIFIED OK1"),
    *_smart_id("sid-flaky", OK, "EE:50001029996 LT:50001029996 LV:020100-29990", given="FLAKY", faults=2),
    *_smart_id("sid-refused", REFUSED, "EE:30403039917 LT:30403039917 LV:030403-10016"),
    *_smart_id("sid-wrong-vc", WRONG_VC, "EE:30403039972 LT:30403039972 LV:030403-10075"),
    *_smart_id("sid-timeout", EXPIRED, "EE:30403039983 LT:30403039983 LV:030403-10083"),
    *_smart_id("sid-not-qualified", NOT_QUALIFIED, "LT:40504049999 LV:050404-19993"),
    *_smart_id("sid-unusable", UNUSABLE, "EE:49901010040"),
    *_smart_id("sid-no-account", NO_ACCOUNT, "EE:39901010038"),
)


@dataclass(kw_only=True)
class Session:
    token: str
    persona: Persona
    created_at: float
    ready_at: float | None  # None: the person never answers
    control_code: str
    status_calls: int = 0
    status_times: list[float] = field(default_factory=list)  # when each status call came (the poll cadence)
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
            "status_times": list(self.status_times),
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
        self._smart_id_certs = CertificateFactory(describe, "TEST of EID-SK 2016")
        self._by_key = {(p.smart_id, p.key): p for p in self.personas}
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
    def persona_rows(cls, *, smart_id: bool = False) -> list[dict[str, str]]:
        """A method's public persona table: each persona's identifiers and what it does."""
        column, anyone = ("country", "EE, LT, LV") if smart_id else ("phone", "any other valid phone")
        outcome = NO_ACCOUNT if smart_id else NOT_USER
        unknown = Persona("unknown", (anyone, "any other valid code"), outcome, smart_id=smart_id)
        rows = []
        for p in [*(p for p in cls.personas if p.smart_id == smart_id), unknown]:
            ids = {"persona": p.name, column: p.key[0], "personal_code": p.key[1], "country": p.country}
            rows.append({**ids, "outcome": cls._describe_persona(p)})
        return rows

    @classmethod
    def _label(cls, outcome: str) -> str:
        status, body = cls.wire(outcome)
        if "error_code" in body:
            return f"{body['error_code']} (HTTP {status})"
        return f"HTTP {status}" if body["status"] == "error" else f"status {body['status']}"

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

    def _certificate(self, person: Person, *, smart_id: bool) -> dict[str, Any]:
        names = (person.country, person.given_name, person.surname, person.code)
        if smart_id:  # as in MarkSign's sample: no O/OU, CN without the code, another demo CA
            subject = person_subject(*names, common_name=f"{person.surname},{person.given_name}")
            return self._smart_id_certs.certificate(f"{person.country}-{person.code}", subject)
        subject = person_subject(*names, **self.subject_attributes)
        return self._certs.certificate(f"{person.country}-{person.code}", subject)

    @abstractmethod
    def _new_token(self) -> str: ...

    @abstractmethod
    def _login_ok(self, session: Session, certificate: dict[str, Any] | None) -> Response: ...

    @abstractmethod
    def _status_ok(self, session: Session, person: Person, certificate: dict[str, Any]) -> Response: ...

    def _login(
        self, key: tuple[str, str], *, smart_id: bool = False, peps: bool = False, sanctions: bool = False
    ) -> Response:
        unknown = Persona("unknown", key, NO_ACCOUNT if smart_id else NOT_USER, smart_id=smart_id)
        persona = self._by_key.get((smart_id, key), unknown)
        if persona.outcome in AT_LOGIN:
            return self._error(persona.outcome)
        # Built before taking the state lock: the first call per person generates keys.
        certificate = self._certificate(persona.person, smart_id=smart_id) if persona.person else None
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

    def _status(self, token: str, *, smart_id: bool = False) -> Response:
        """Count a status call and answer where its session stands; the first final answer is recorded."""
        with self._lock:
            session = self._open_session(token, smart_id)
            if session is None:
                return self._error(SESSION_NOT_FOUND)
            session.status_calls += 1
            now = self._clock()
            session.status_times.append(now)
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
        return self._status_ok(session, person, self._certificate(person, smart_id=smart_id))

    def _delete(self, token: str, *, smart_id: bool = False) -> bool:
        with self._lock:
            session = self._open_session(token, smart_id)
            if session is not None:
                session.deleted_at = self._clock()
            return session is not None

    def _open_session(self, token: str, smart_id: bool) -> Session | None:
        session = self._sessions.get(token)
        if session is None or session.deleted_at is not None or session.persona.smart_id != smart_id:
            return None
        return session


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
    return "".join(f"/{short.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in name)


def name_dict(name: x509.Name, *, complete: bool = False) -> dict[str, str | None]:
    """The name's attributes under the providers' keys; ``complete``: every key, None if absent."""
    values = {key: name.get_attributes_for_oid(oid) for oid, _, key in _NAME_PARTS}
    result = {key: str(found[0].value) if found else None for key, found in values.items()}
    return result if complete else {key: value for key, value in result.items() if value is not None}


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value])


def person_subject(
    country: str,
    given_name: str,
    surname: str,
    code: str,
    *,
    organisation: str = "",
    unit: str = "",
    common_name: str = "",
) -> x509.Name:
    """An ESTEID-style subject: C, [O], [OU], CN=SURNAME,GIVEN,CODE, SN, GN, serialNumber=PNO{C}-{CODE}."""
    return _name(
        (NameOID.COUNTRY_NAME, country),
        (NameOID.ORGANIZATION_NAME, organisation),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        (NameOID.COMMON_NAME, common_name or f"{surname},{given_name},{code}"),
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
