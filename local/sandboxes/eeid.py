"""Fake of eeID's identification API: token, identification requests with the end
user's link page, proof PDF, and HMAC-signed webhooks delivered ``deliveries`` times, each failed attempt
retried up to 3 times. ``PERSONS`` are the test persons who authenticate."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import functools
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from local.sandboxes.base import Sandbox, html_page, json_response
from local.sandboxes.spec import SandboxSpec, env

__all__ = ["PERSONS", "EeidSandbox"]

# The secret eid-broker/{stage}/eeid's keys and the sandbox's defaults (`make run` seeds the secret with
# them unless EEID_{KEY} environment variables say otherwise).
CREDENTIALS: dict[str, str] = {
    "client_id": "sandbox-eeid-client",
    "client_secret": "sandbox-eeid-secret",
    "previous_client_secret": "",
}

MATCH = "match"
MISMATCH = "mismatch"
EXPIRE = "expire"
OUTCOMES = (MATCH, MISMATCH, EXPIRE)

PENDING = "pending"
COMPLETED = "completed"
EXPIRED = "expired"

LINK_TTL = 7 * 24 * 3600.0
CLAIM_TYPES = frozenset({"sub", "name", "birthdate", "country"})
API_ENDPOINTS = ("token", "create", "get", "list", "proof")
MAX_PAGE_SIZE = 100
WEBHOOK_RETRIES = 3
_ACKNOWLEDGED = frozenset({200, 201, 204})

_INVALID_CREDENTIALS = "Invalid credentials"
_REQUEST_NOT_FOUND = "Request not found"
_SUB_REQUIRED = 'Claims required must include at least one claim of type "sub" with a non-empty value'

PERSONS: list[dict[str, str]] = [
    dict(zip(("subject", "given_name", "family_name", "date_of_birth"), row, strict=True))
    for row in (
        ("EE30303039914", "OK", "TESTNUMBER", "1903-03-03"),
        ("EE60001017869", "EID2016", "TESTNUMBER", "2000-01-01"),
        ("EE39901012239", "SMART-ID", "TESTNUMBER", "1999-01-01"),
        # Century digit 4 means the 1900s, so this code's birth date is 1905, not 2005.
        ("LT40504040001", "ONA", "TESTNUMBER", "1905-04-04"),
        ("LV050405-10009", "JANIS", "TESTNUMBER", "1905-04-05"),
    )
]
_BY_SUBJECT = {p["subject"]: p for p in PERSONS}
_MISMATCH_PERSON = "EE30303039914"
_MISMATCH_FALLBACK = "EE39901012239"

_EE_LT_CODE = re.compile(r"^(?:EE|LT)([1-8])(\d{2})(\d{2})(\d{2})\d{4}$")
_LV_CODE = re.compile(r"^LV(\d{2})(\d{2})(\d{2})-?([012])\d{4}$")


def _date_of_birth(sub: str) -> str | None:
    """The birth date a personal code carries (EE/LT century digit, LV DDMMYY-C), if it has a real one."""
    if match := _EE_LT_CODE.match(sub):
        century = 1800 + 100 * ((int(match[1]) - 1) // 2)
        year, month, day = century + int(match[2]), int(match[3]), int(match[4])
    elif match := _LV_CODE.match(sub):
        year, month, day = 1800 + 100 * int(match[4]) + int(match[3]), int(match[2]), int(match[1])
    else:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _person(sub: str) -> dict[str, str | None]:
    known = _BY_SUBJECT.get(sub)
    if known is not None:
        return dict(known)
    return {
        "subject": sub,
        "given_name": "TEST",
        "family_name": "PERSON",
        "date_of_birth": _date_of_birth(sub),
    }


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def _mask(sub: str) -> str:
    """The country prefix and the last two characters; everything between becomes ``*``."""
    prefix = sub[:2] if sub[:2].isalpha() else ""
    shown = 2 if len(sub) - len(prefix) > 2 else 0
    return prefix + "*" * (len(sub) - len(prefix) - shown) + sub[len(sub) - shown :]


def _positive_int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def _requests_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return requests.post(url, data=body, headers=headers, timeout=5).status_code


@dataclass(kw_only=True)
class _IdentRequest:
    id: str
    link: str
    created_at: float
    link_expires_at: float
    claims_required: list[dict[str, str]]
    reference: str | None
    sub: str
    status: str = PENDING
    completed_at: float | None = None
    result: dict[str, Any] | None = None
    claims_matched: bool | None = None
    mismatched_claims: dict[str, dict[str, str | None]] | None = None
    webhook_sent_at: list[float] = field(default_factory=list)

    def status_at(self, now: float) -> str:
        if self.status == PENDING and now >= self.link_expires_at:
            return EXPIRED
        return self.status

    def view(self, now: float, client_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "link": self.link,
            "link_expires_at": _iso(self.link_expires_at),
            "claims_required": copy.deepcopy(self.claims_required),
            "status": self.status_at(now),
            "created_at": _iso(self.created_at),
            "completed_at": None if self.completed_at is None else _iso(self.completed_at),
            "client_id": client_id,
            "reference": self.reference,
            "result": copy.deepcopy(self.result),
            "claims_matched": self.claims_matched,
            "mismatched_claims": copy.deepcopy(self.mismatched_claims),
        }

    def stats(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status_at(now),
            "claims_matched": self.claims_matched,
            "completed_at": self.completed_at,
            "webhook_sent_at": list(self.webhook_sent_at),
        }


def _parse_claims(payload: dict[str, Any]) -> tuple[list[dict[str, str]], str] | str:
    """The claims and the requested subject, or the error message for a 422."""
    claims = payload.get("claims_required")
    if claims is None or claims == []:
        return _SUB_REQUIRED
    if not isinstance(claims, list):
        return "Claims required must be an array"
    parsed: list[dict[str, str]] = []
    for claim in claims:
        if not isinstance(claim, dict) or not isinstance(claim.get("value", ""), str):
            return "Each required claim must be an object with a type and a string value"
        if claim.get("type") not in CLAIM_TYPES:
            return f"Unsupported claim type: {claim.get('type')!s}"
        parsed.append({"type": claim["type"], "value": claim.get("value", "")})
    subs = [c["value"].strip() for c in parsed if c["type"] == "sub" and c["value"].strip()]
    if not subs:
        return _SUB_REQUIRED
    return parsed, subs[0]


def _mismatches(
    claims: list[dict[str, str]], person: dict[str, str | None]
) -> dict[str, dict[str, str | None]]:
    subject = person["subject"] or ""
    actual: dict[str, str | None] = {
        "sub": subject,
        "name": f"{person['given_name']} {person['family_name']}",
        "birthdate": person["date_of_birth"],
        "country": subject[:2],
    }
    result: dict[str, dict[str, str | None]] = {}
    for claim in claims:
        kind, expected = claim["type"], claim["value"].strip()
        if kind in result or (kind != "sub" and not expected):
            continue
        if (actual[kind] or "").casefold() != expected.casefold():
            result[kind] = {"expected": expected, "actual": actual[kind]}
    return result


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _proof_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with Helvetica text lines; the same lines always give the same bytes."""
    content = [b"BT", b"/F1 18 Tf", b"72 770 Td", b"(" + _pdf_text(lines[0]) + b") Tj", b"/F1 11 Tf"]
    for line in lines[1:]:
        content += [b"0 -22 Td", b"(" + _pdf_text(line) + b") Tj"]
    stream = b"\n".join([*content, b"ET"])
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Title (" + _pdf_text(lines[0]) + b") /Producer (eeID sandbox) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, len(objects))
    out += b"startxref\n%d\n%%%%EOF" % xref_at
    return bytes(out)


_CLAIM_LABELS = {
    "sub": "Personal identifier",
    "name": "Name",
    "birthdate": "Date of birth",
    "country": "Country",
}


_html = functools.partial(html_page, "eeID sandbox")


class EeidSandbox(Sandbox):
    api_endpoints = API_ENDPOINTS

    def __init__(
        self,
        client_id: str = CREDENTIALS["client_id"],
        client_secret: str = CREDENTIALS["client_secret"],
        webhook_url: str | None = None,
        webhook_delay: float = 0.3,
        deliveries: int = 2,
        token_ttl: int = 120,
        clock: Callable[[], float] = time.time,
        post: Callable[[str, bytes, dict[str, str]], int] | None = None,
    ) -> None:
        api = "/api/ident/v1/identification_requests"
        rules = [
            Rule("/api/auth/v1/token", methods=["POST"], endpoint="token"),
            Rule(api, methods=["POST"], endpoint="create"),
            Rule(api, methods=["GET"], endpoint="list"),
            Rule(f"{api}/<request_id>", methods=["GET"], endpoint="get"),
            Rule(f"{api}/<request_id>/proof_of_identity", methods=["GET"], endpoint="proof"),
            Rule("/ident/<request_id>", methods=["GET"], endpoint="page"),
            Rule("/ident/<request_id>/authenticate", methods=["POST"], endpoint="authenticate"),
            Rule("/_sandbox/complete/<request_id>", methods=["POST"], endpoint="complete"),
        ]
        super().__init__(rules, clock)
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_url = webhook_url
        self._webhook_delay = webhook_delay
        self._deliveries = deliveries
        self._token_ttl = token_ttl
        self._post = post or _requests_post
        self._tokens: dict[str, float] = {}
        self._requests: dict[str, _IdentRequest] = {}
        self._webhooks = {"sent": 0, "failed": 0}
        # Bumped by reset() so deliveries still in flight stop and are not counted.
        self._generation = 0

    def _state(self) -> dict[str, Any]:
        now = self._clock()
        return {"webhooks": dict(self._webhooks), "requests": [r.stats(now) for r in self._requests.values()]}

    def _clear(self) -> None:
        self._tokens.clear()
        self._requests.clear()
        self._webhooks = {"sent": 0, "failed": 0}
        self._generation += 1

    def complete(self, request_id: str, outcome: str, *, webhook: bool = True) -> bool:
        """Finish a pending request as the end user would (False: it was not pending); KeyError if unknown."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        with self._lock:
            request = self._requests[request_id]
            now = self._clock()
            if request.status_at(now) != PENDING:
                return False
            if outcome == EXPIRE:
                request.status = EXPIRED
                return True
            if outcome == MATCH:
                person = _person(request.sub)
                mismatched = None
            else:
                other = _MISMATCH_PERSON if request.sub != _MISMATCH_PERSON else _MISMATCH_FALLBACK
                person = _person(other)
                mismatched = _mismatches(request.claims_required, person)
            request.status = COMPLETED
            request.completed_at = now
            request.result = {"acr": "high", "sub": person["subject"], "auth_time": int(now)}
            request.result |= {key: person[key] for key in ("given_name", "family_name", "date_of_birth")}
            request.result |= {"expiration_time": None, "authentication_type": "MOBILE_ID"}
            request.claims_matched = mismatched is None
            request.mismatched_claims = mismatched
            generation = self._generation
            notice: dict[str, str | None] = {
                "identification_request_id": request.id,
                "client_id": self._client_id,
            }
            notice["reference"] = request.reference
            body = json.dumps(notice, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if webhook and self._webhook_url is not None:
            threading.Thread(
                target=self._deliver,
                args=(self._webhook_url, generation, request_id, body),
                name="eeid-webhook",
                daemon=True,
            ).start()
        return True

    def _deliver(self, url: str, generation: int, request_id: str, body: bytes) -> None:
        signature = hmac.new(self._client_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-HMAC-Signature": signature}
        time.sleep(self._webhook_delay)
        for _ in range(self._deliveries):
            for attempt in range(1 + WEBHOOK_RETRIES):
                if attempt:
                    time.sleep(self._webhook_delay)
                with self._lock:
                    if generation != self._generation:
                        return
                try:
                    acknowledged = self._post(url, body, dict(headers)) in _ACKNOWLEDGED
                except Exception:  # noqa: BLE001 - whatever the receiver does, it is a failed delivery
                    acknowledged = False
                with self._lock:
                    if generation != self._generation:
                        return
                    if acknowledged:
                        self._webhooks["sent"] += 1
                        self._requests[request_id].webhook_sent_at.append(self._clock())
                    else:
                        self._webhooks["failed"] += 1
                if acknowledged:
                    break

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if endpoint in ("create", "list", "get", "proof") and not self._bearer_ok(request):
            return _error("Unauthorized", 401)
        return super()._handle(endpoint, request, args)

    def _on_token(self, request: Request) -> Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return _error(_INVALID_CREDENTIALS, 401)
        id_ok = hmac.compare_digest(user, self._client_id.encode("utf-8"))
        secret_ok = hmac.compare_digest(password, self._client_secret.encode("utf-8"))
        if scheme.lower() != "basic" or not sep or not (id_ok and secret_ok):
            return _error(_INVALID_CREDENTIALS, 401)
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self._token_ttl
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self._token_ttl}
        return json_response(body, 201)

    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self._lock:
            expires_at = self._tokens.get(token.strip())
            return expires_at is not None and self._clock() < expires_at

    def _on_create(self, request: Request) -> Response:
        payload = request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            return _error("Request body must be a JSON object", 422)
        reference = payload.get("reference")
        if reference is not None and not isinstance(reference, str):
            return _error("Reference must be a string", 422)
        parsed = _parse_claims(payload)
        if isinstance(parsed, str):
            return _error(parsed, 422)
        claims, sub = parsed
        request_id = str(uuid.uuid4())
        with self._lock:
            now = self._clock()
            ident = _IdentRequest(
                id=request_id,
                link=f"{request.root_url}ident/{request_id}",
                created_at=now,
                link_expires_at=now + LINK_TTL,
                claims_required=claims,
                reference=reference,
                sub=sub,
            )
            self._requests[request_id] = ident
            body = ident.view(now, self._client_id)
        return json_response(body, 201)

    def _on_list(self, request: Request) -> Response:
        page = _positive_int(request.args.get("page", "1"))
        page_size = _positive_int(request.args.get("page_size", "10"))
        if page is None:
            return _error("Page must be a positive integer", 422)
        if page_size is None or page_size > MAX_PAGE_SIZE:
            return _error(f"Page size must be an integer from 1 to {MAX_PAGE_SIZE}", 422)
        with self._lock:
            now = self._clock()
            newest_first = list(reversed(self._requests.values()))
            start = (page - 1) * page_size
            items = [r.view(now, self._client_id) for r in newest_first[start : start + page_size]]
            total = len(newest_first)
        return json_response({"page": page, "page_size": page_size, "total": total, "items": items})

    def _on_get(self, request: Request, request_id: str) -> Response:
        with self._lock:
            ident = self._requests.get(request_id)
            if ident is None:
                return _error(_REQUEST_NOT_FOUND, 404)
            body = ident.view(self._clock(), self._client_id)
        return json_response(body)

    def _on_proof(self, request: Request, request_id: str) -> Response:
        with self._lock:
            ident = self._requests.get(request_id)
            if ident is None or ident.status != COMPLETED or ident.result is None:
                return _error("Proof of identity not found", 404)
            result = dict(ident.result)
            completed_at = ident.completed_at or 0.0
        lines = [
            "eeID proof of identity",
            f"Identification request: {request_id}",
            f"Completed at: {_iso(completed_at)}",
            f"Country: {str(result['sub'])[:2]}",
            f"Name: {result['given_name']} {result['family_name']}",
            f"Authentication: {result['authentication_type']}, level of assurance {result['acr']}",
            "Issued by the eeID sandbox for testing; not a real proof of identity.",
        ]
        pdf = _proof_pdf(lines)
        return Response(
            pdf,
            content_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="proof_of_identity_{request_id}.pdf"'},
        )

    def _on_complete(self, request: Request, request_id: str) -> Response:
        payload = request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            return _error("Request body must be a JSON object", 400)
        outcome = payload.get("outcome")
        webhook = payload.get("webhook", True)
        if outcome not in OUTCOMES:
            return _error(f"outcome must be one of {', '.join(OUTCOMES)}", 400)
        if not isinstance(webhook, bool):
            return _error("webhook must be a boolean", 400)
        try:
            self.complete(request_id, outcome, webhook=webhook)
        except KeyError:
            return _error(_REQUEST_NOT_FOUND, 404)
        with self._lock:
            status = self._requests[request_id].status_at(self._clock())
        return json_response({"status": status})

    def _closed_page(self, request_id: str, http_status: int) -> Response | None:
        """The page of a request that is unknown or no longer pending; None while it is pending."""
        with self._lock:
            ident = self._requests.get(request_id)
            status = ident.status_at(self._clock()) if ident else None
        if status is None:
            return _html("<p>Unknown identification request.</p>", 404)
        if status == COMPLETED:
            return _html("<p>This identification request has already been completed.</p>", http_status)
        return None if status == PENDING else _html("<p>This identification link has expired.</p>", 410)

    def _on_page(self, request: Request, request_id: str) -> Response:
        with self._lock:
            ident = self._requests.get(request_id)
        closed = self._closed_page(request_id, 200)
        if closed is not None or ident is None:
            return closed or _html("<p>Unknown identification request.</p>", 404)
        asked = []
        for kind in dict.fromkeys(c["type"] for c in ident.claims_required):
            label = html.escape(_CLAIM_LABELS[kind])
            value = f": <code>{html.escape(_mask(ident.sub))}</code>" if kind == "sub" else ""
            asked.append(f"<li>{label} ({kind}){value}</li>")
        action = html.escape(f"{request.script_root}/ident/{request_id}/authenticate")
        body = f"""<p>A service asks you to prove your identity. It asks for:</p>
<ul>{"".join(asked)}</ul>
<form method="post" action="{action}">
<button type="submit" name="choice" value="match">Authenticate as the requested person</button>
<button type="submit" name="choice" value="mismatch">Authenticate as another person</button>
</form>
<p class="note"><b>Requested person</b>: completes the request with the requested subject's test person;
<code>claims_matched</code> is true.<br><b>Another person</b>: completes it with a different test person;
<code>claims_matched</code> is false and <code>mismatched_claims</code> says what differs.<br>
Either way the request becomes <code>completed</code> and the service is notified by webhook.</p>"""
        return _html(body)

    def _on_authenticate(self, request: Request, request_id: str) -> Response:
        choice = request.form.get("choice")
        if choice not in (MATCH, MISMATCH):
            return _html("<p>Choose one of the two buttons.</p>", 400)
        try:
            done = self.complete(request_id, choice, webhook=True)
        except KeyError:
            return _html("<p>Unknown identification request.</p>", 404)
        if not done:
            return self._closed_page(request_id, 409) or _html(
                "<p>This identification link has expired.</p>", 410
            )
        return _html("<p>Authenticated — you can close this window; the broker has been notified.</p>")


def _factory(
    client_id: str, client_secret: str, previous_client_secret: str = "", **options: Any
) -> EeidSandbox:
    # The webhook is signed with the current secret only; the previous one is the broker's to accept.
    webhook_url = f"{env('LOCAL_BROKER_URL', 'http://127.0.0.1:3000')}/eeid/webhooks/identification_requests"
    return EeidSandbox(client_id, client_secret, **{"webhook_url": webhook_url, **options})


SANDBOX = SandboxSpec(
    "eeid", "EeidBaseUrl", CREDENTIALS, _factory, 8083, ("client_id", "client_secret"), PERSONS
)
