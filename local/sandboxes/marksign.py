"""Fake of the MarkSign gateway's Mobile-ID and Smart-ID logins, as MarkSign documents them, on the shared
gateway engine: JSON bodies with ``access_token`` in the body (a token in the URL is refused), errors with
non-200 statuses, the LT locale without a path prefix and the EN locale under ``/en``."""

from __future__ import annotations

import base64
import time
import uuid
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

__all__ = ["PERSONAS", "SMART_ID_PERSONAS", "MarkSignSandbox"]

# The secret eid-broker/{stage}/marksign's keys and the sandbox's defaults (`make run` seeds the secret with
# them unless MARKSIGN_{KEY} environment variables say otherwise).
CREDENTIALS: dict[str, str] = {"access_token": "sandbox-marksign-token"}

_LANGUAGES = frozenset({"LIT", "ENG", "RUS", "EST"})
_MESSAGE_LIMITS = {"GSM-7": 40, "UCS-2": 20}
_INVALID_TOKEN = (40003, "Invalid access token")
# The documented Smart-ID status sample's field order (Mobile-ID's differs).
_SMART_ID_ORDER: tuple[str, ...] = (
    "status",
    "certificate",
    "code",
    "country",
    "name",
    "surname",
    "token",
    "control_code",
)
_SMART_ID_ORDER += ("sanctions_data", "peps_data")

_TEN = Person("60001017705", "EE", "TEN", "TESTNUMBER")
_PEP = "JAAN PEPTESTNUMBER"
_JAAN = Person(
    "39001010011",
    "EE",
    "JAAN",
    "PEPTESTNUMBER",
    peps_data=({"name": _PEP, "position": "Member of Parliament", "country": "EE", "source": "sandbox"},),
    sanctions_data=({"list": "EU consolidated", "name": _PEP, "source": "sandbox"},),
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


def _fail(code: int, message: str) -> Response:
    status, body = MarkSignSandbox.wire_code(code, message)
    return json_response(body, status)


def _invalid(parameter: str, reason: str = "") -> Response:
    return _fail(40001, f"Invalid parameter [{parameter}]" + (f": {reason}" if reason else ""))


def _payload(request: Request) -> dict[str, Any] | None:
    if not request.get_data(cache=True):
        return {}
    payload = request.get_json(silent=True) if request.is_json else None
    return payload if isinstance(payload, dict) else None


def _check_login(payload: dict[str, Any], *, smart_id: bool) -> Response | None:
    first, code = payload.get("country" if smart_id else "phone"), payload.get("code")
    if not smart_id and not isinstance(first, str):
        return _invalid("phone")
    if not isinstance(code, str):
        return _invalid("code")
    limit = None  # no documented length limit for a Smart-ID message
    if smart_id:
        if not isinstance(first, str) or first not in g.SMART_ID_CODE_RE:
            return _invalid("country", "Invalid country code")
        if not g.SMART_ID_CODE_RE[first].match(code):
            return _fail(40005, "Invalid personal code format")
    else:
        if not g.PHONE_RE.match(str(first)):
            return _fail(40004, "Invalid phone number format")
        if not g.CODE_RE.match(code):
            return _fail(40005, "Invalid personal code format")
        language = payload.get("language")
        if language is not None and not (isinstance(language, str) and language in _LANGUAGES):
            return _invalid("language", "Invalid language")
        message_format = payload.get("message_format", "GSM-7")
        if not isinstance(message_format, str) or message_format not in _MESSAGE_LIMITS:
            return _invalid("message_format", "Invalid message format")
        limit = _MESSAGE_LIMITS[message_format]
    message = payload.get("message")
    if message is not None and (not isinstance(message, str) or (limit is not None and len(message) > limit)):
        return _invalid("message", "Invalid message")
    for flag in ("peps", "sanctions"):
        if not isinstance(payload.get(flag, False), bool):
            return _invalid(flag)
    return None


class MarkSignSandbox(GatewaySandbox):
    personas = (
        Persona("ok-ee", ("+37269000366", "60001017705"), person=_TEN),
        Persona("pep-ee", ("+37269000466", "39001010011"), person=_JAAN),
        Persona("not-found", ("+37269000566", "49001010012"), g.NOT_USER),
        Persona("refused", ("+37269000666", "38001010020"), g.CANCELLED),
        Persona("expired", ("+37269000766", "48001010021"), g.EXPIRED),
        Persona("no-certificate", ("+37269000866", "37001010037"), g.NO_CERTIFICATE),
        Persona("outage", ("+37269000966", "47001010030"), g.OUTAGE),
        Persona("unauthorized", ("+37269001066", "36001010049"), g.UNAUTHORIZED),
        Persona("never-answers", ("+37269001166", "46001010049"), g.NEVER),
        Persona("wrong-person", ("+37269001266", "35001010058"), person=_TEN),
        *g.SMART_ID_PERSONAS,
    )
    errors: ClassVar[dict[str, tuple[int, str]]] = {
        g.NOT_USER: (40401, "User account not found"),
        g.NO_CERTIFICATE: (40801, "Timeout acquiring certificate"),
        g.OUTAGE: (50001, "Technical error"),
        g.UNAUTHORIZED: (50003, "Not authorized for service"),
        g.CANCELLED: (40020, "User refused"),
        g.EXPIRED: (40021, "Session expired"),
        g.SESSION_NOT_FOUND: (40402, "Session for given token was not found"),
        g.NO_ACCOUNT: (40401, "User account not found"),
        g.NOT_QUALIFIED: (40403, "Account is not qualified"),
        g.REFUSED: (40020, "User refused"),
        g.WRONG_VC: (40020, "User refused"),  # no code of its own is documented
        g.UNUSABLE: (40022, "Document format is corrupted, therefore unusable"),
        g.UNAVAILABLE: (50002, "Cannot establish a connection"),
    }
    deletable = True

    def __init__(
        self,
        access_token: str = CREDENTIALS["access_token"],
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
                Rule(f"{prefix}/smartid/login.json", methods=["POST"], endpoint="smartid_login"),
                Rule(f"{prefix}/smartid/status/<token>.json", methods=["POST"], endpoint="smartid_status"),
                Rule(f"{prefix}/api/smartid/session/<token>", methods=["DELETE"], endpoint="smartid_delete"),
            ]
        super().__init__(
            access_token=access_token,
            ok_after=ok_after,
            session_ttl=session_ttl,
            clock=clock,
            rules=rules,
            describe=_describe,
        )

    @classmethod
    def http_status(cls, error_code: int) -> int:
        if error_code == 40003:
            return 401
        if error_code in (40401, 40402, 40403):
            return 404
        if error_code == 50003:
            return 403
        return 500 if error_code >= 50000 else 400

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        # A token in the URL counts as missing even when the body has one too, so a leak cannot pass.
        if "access_token" in request.args:
            return _fail(*_INVALID_TOKEN)
        payload = _payload(request)
        if payload is None:
            return _invalid("body", "JSON object expected")
        if not self._token_ok(payload.get("access_token")):
            return _fail(*_INVALID_TOKEN)
        smart_id = endpoint.startswith("smartid_")
        if endpoint.endswith("status"):
            return self._status(args["token"], smart_id=smart_id)
        if endpoint.endswith("delete"):
            if not self._delete(args["token"], smart_id=smart_id):
                return error_response("Request number is invalid", 404)
            return json_response({"status": "ok"})
        rejected = _check_login(payload, smart_id=smart_id)
        if rejected is not None:
            return rejected
        key = (payload["country" if smart_id else "phone"], payload["code"])
        peps, sanctions = payload.get("peps") is True, payload.get("sanctions") is True
        return self._login(key, smart_id=smart_id, peps=peps, sanctions=sanctions)

    def _new_token(self) -> str:
        return str(uuid.uuid4())

    def _login_ok(self, session: Session, certificate: dict[str, Any] | None) -> Response:
        person = session.persona.person
        if session.persona.smart_id:  # no certificate at a Smart-ID login, unlike Mobile-ID's
            return json_response(
                {"status": "ok", "token": session.token, "control_code": session.control_code}
            )
        body: dict[str, Any] = {"status": "ok"}
        if certificate is not None:
            body["certificate"] = certificate
        body["code"] = person.code if person else session.persona.key[1]
        return json_response({**body, "token": session.token, "control_code": session.control_code})

    def _status_ok(self, session: Session, person: Person, certificate: dict[str, Any]) -> Response:
        values = {
            "status": "ok",
            "country": person.country,
            "certificate": certificate,
            "code": person.code,
            "name": person.given_name,
            "token": session.token,
            "control_code": session.control_code,
            "surname": person.surname,
            "sanctions_data": [dict(e) for e in person.sanctions_data] if session.sanctions else [],
            "peps_data": [dict(e) for e in person.peps_data] if session.peps else [],
        }
        order = _SMART_ID_ORDER if session.persona.smart_id else values
        return json_response({key: values[key] for key in order})


PERSONAS: list[dict[str, str]] = MarkSignSandbox.persona_rows()
SMART_ID_PERSONAS: list[dict[str, str]] = MarkSignSandbox.persona_rows(smart_id=True)
ALL_PERSONAS = PERSONAS + SMART_ID_PERSONAS


def _factory(access_token: str, **options: Any) -> MarkSignSandbox:
    ok_after = float(env("MARKSIGN_SANDBOX_OK_AFTER", "7"))
    return MarkSignSandbox(access_token, **{"ok_after": ok_after, **options})


SANDBOX = SandboxSpec("marksign", "MarksignBaseUrl", CREDENTIALS, _factory, 8082, (), ALL_PERSONAS)
