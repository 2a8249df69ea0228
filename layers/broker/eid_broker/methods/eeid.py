"""eeid: an eeID identification request. Completion arrives by HMAC-signed webhook; a sparse fallback
poll of the request records it if no webhook comes before the link expires."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eid_broker import identifiers
from eid_broker.aws import provider_credentials
from eid_broker.config import get_settings
from eid_broker.errors import (
    TRANSIENT,
    ActionNotAllowed,
    Code,
    Erased,
    InvalidSignature,
    ProofNotFound,
    SessionOutcomeError,
    UnreadableBody,
)
from eid_broker.http import RESERVE_SECONDS, time_left
from eid_broker.methods.base import Method, Opening, StartBody, subject_digest
from eid_broker.methods.ports import WebhookSessions
from eid_broker.observability import Metric, count, logger
from eid_broker.providers.eeid import PROVIDER, EeidClient, EeidResult, EeidSettings, IdentificationRequest
from eid_broker.sessions.models import Identity, Redirect, SessionRecord, iso, utcnow
from eid_broker.validation import birth_date, personal_code_problem

FALLBACK_FIRST_WAIT_SECONDS = 60.0
FALLBACK_MAX_WAIT_SECONDS = 6 * 3600.0
LINK_LIFETIME = timedelta(days=7)
CLAIM_SECONDS = 30.0
_SUBJECT = re.compile(r"(EE|LT|LV)(.+)")
_CLAIM = re.compile(r"[a-z_]{1,32}")


class EeidStart(StartBody):
    subject: str = Field(
        description="Country code and personal code of the person asked for (EE, LT or LV).",
        examples=["EE30303039914"],
        max_length=14,
        json_schema_extra={"pattern": r"^((EE|LT)[1-8][0-9]{10}|LV[0-9]{6}-[0-9]{5})$"},
    )

    @field_validator("subject")
    @classmethod
    def _subject(cls, subject: str) -> str:
        match = _SUBJECT.fullmatch(subject)
        if match is None:
            raise ValueError("must be EE, LT or LV followed by that country's personal code")
        problem = personal_code_problem(match.group(1), match.group(2))
        if problem is not None:
            raise ValueError(f"is not a valid personal code of {match.group(1)}: {problem}")
        return subject


class WebhookBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identification_request_id: str = Field(min_length=1, max_length=64)
    client_id: str = Field(min_length=1, max_length=256)
    reference: str | None = Field(default=None, max_length=256)


def _secret() -> dict[str, str]:
    return provider_credentials(get_settings().provider(EeidSettings), "client_id", "client_secret")


class EeidMethod(Method):
    name = "eeid"
    body = EeidStart
    summary = "Start an eeID identification request"
    description = (
        "Send the person to `next_action.url` (valid until `next_action.expires_at`). eeID's signed "
        "webhook completes the session; a sparse fallback poll does so if no webhook arrives."
    )
    interval_seconds = FALLBACK_FIRST_WAIT_SECONDS
    timeout_seconds = LINK_LIFETIME.total_seconds()
    throttle_family = "eeid"

    def lifetime(self) -> float:
        return self.timeout_seconds  # the link's; SESSION_TIMEOUT_SECONDS is for the short methods

    def person(self, body: EeidStart) -> dict[str, str]:
        return {"subject": identifiers.personal_code(body.subject[:2], body.subject[2:])}

    def begin(self, body: EeidStart, session_id: str) -> Opening:
        # Our session id is the request's reference: a webhook names it, so no lookup table is needed.
        created = EeidClient.configured().create_request(body.subject, reference=session_id)
        expires = _parse_time(created.link_expires_at) or utcnow() + LINK_LIFETIME
        return Opening(
            next_action=Redirect(url=created.link, expires_at=iso(expires)),
            provider_ref={"request_id": created.id},
            expected_subject_hmac=subject_digest(body.subject[:2], body.subject[2:]),
            expires=expires,
        )

    def check(self, record: SessionRecord) -> Identity | None:
        return outcome(record, EeidClient.configured().get_request(record.provider_ref["request_id"]))

    def wait(self, record: SessionRecord, now: datetime) -> float:
        """Sparse polling: wait half the session's age, at least the interval, at most six hours."""
        age = (now - record.created_at_dt()).total_seconds()
        until_deadline = (record.expires_at_dt() - now).total_seconds()
        return float(
            round(max(1.0, min(FALLBACK_MAX_WAIT_SECONDS, max(self.first_wait(), age / 2), until_deadline)))
        )

    def due_in(self, record: SessionRecord, now: datetime) -> float:
        return 0.0  # sparse polling keeps no grid


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def outcome(record: SessionRecord, request: IdentificationRequest) -> Identity | None:
    """What eeID's own record of the request says; None while it is pending."""
    if request.id != record.provider_ref.get("request_id") or request.reference != record.session_id:
        raise SessionOutcomeError(
            Code.PROVIDER_ERROR, "eeID returned another identification request.", provider=PROVIDER
        )
    if request.status == "pending":
        return None
    if request.status == "expired":
        raise SessionOutcomeError(
            Code.TIMEOUT,
            "The person did not authenticate before the eeID link expired.",
            provider=PROVIDER,
            status="expired",
        )
    result = request.result or EeidResult()
    sub = result.sub or ""
    if request.claims_matched is not True or record.expected_subject_hmac != subject_digest(sub[:2], sub[2:]):
        # Claim names only, and only ones that look like claim names: never eeID's values or free text.
        claims = ", ".join(sorted(c for c in request.mismatched_claims or {} if _CLAIM.fullmatch(c))) or "sub"
        raise SessionOutcomeError(
            Code.CLAIMS_MISMATCH,
            f"The person who authenticated is not the one asked for (mismatched claims: {claims}).",
            provider=PROVIDER,
        )
    born = birth_date(sub[:2], sub[2:])
    return Identity(
        country=sub[:2],
        personal_code=sub[2:],
        given_name=result.given_name,
        surname=result.family_name,
        date_of_birth=result.date_of_birth or (born.isoformat() if born else None),
        subject=sub,
        evidence={
            "identification_request_id": request.id,
            "acr": result.acr,
            "authentication_type": result.authentication_type,
            "claims_matched": True,
            "proof_available": True,
        },
    )


METHOD = EeidMethod()


def signature_valid(raw: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """Hex HMAC-SHA256 of the raw body, or of it without whitespace as eeID's reference receiver signs."""
    if not signature:
        return False
    given = signature.strip().lower().encode("utf-8", "replace")
    bodies = (raw, re.sub(rb"\s+", b"", raw))
    valid = False
    for secret in secrets:
        for body in bodies:
            expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
            valid |= hmac.compare_digest(expected, given)
    return valid


def record_webhook(raw: bytes, signature: str | None, *, sessions: WebhookSessions) -> None:
    """Verify, deduplicate, then fetch the request from eeID and trust only that."""
    secret = _secret()
    keys = [
        secret["client_secret"],
        *([secret["previous_client_secret"]] if secret.get("previous_client_secret") else []),
    ]
    if not signature_valid(raw, signature, keys):
        count(Metric.EEID_WEBHOOK_REJECTED, reason="signature")
        logger.warning("eeID webhook refused: bad or missing signature")
        raise InvalidSignature("The X-HMAC-Signature header is missing or does not match the body.")
    try:
        body = WebhookBody.model_validate_json(raw)
    except ValidationError as exc:
        count(Metric.EEID_WEBHOOK_REJECTED, reason="body")
        raise UnreadableBody("The webhook body is not an eeID identification request event.") from exc
    if body.client_id != secret["client_id"]:
        count(Metric.EEID_WEBHOOK_REJECTED, reason="client")
        logger.warning("eeID webhook for another client ignored")
        return
    record = sessions.find(body.reference or "")
    if (
        record is None
        or record.method != METHOD.name
        or record.provider_ref.get("request_id") != body.identification_request_id
    ):
        logger.info("eeID webhook for an unknown request acknowledged")
        return
    left = time_left()
    claim = CLAIM_SECONDS if left is None else max(1.0, min(CLAIM_SECONDS, left + RESERVE_SECONDS))
    try:
        settled = sessions.settle_once(record, METHOD.check, claim_seconds=claim)
    except TRANSIENT:
        # eeID retries an answer that is not 2xx; if it stops, a poll within a minute still settles it.
        sessions.poll_soon(record, METHOD.first_wait())
        raise
    if not settled:
        logger.info("eeID webhook duplicate acknowledged", extra={"session_id": record.session_id})
        return
    logger.info("eeID webhook processed", extra={"session_id": record.session_id})


def proof(session_id: str, owner: str, *, sessions: WebhookSessions) -> bytes:
    record = sessions.read(session_id, owner)
    if record.erased_at is not None:
        raise Erased("This session's personal data, its proof included, was erased.")
    if record.method != METHOD.name or record.status != "completed" or record.identity is None:
        raise ActionNotAllowed("Only a completed eeID session has a proof of identity.")
    pdf = EeidClient.configured().proof_of_identity(
        str(record.identity.evidence["identification_request_id"])
    )
    if pdf is None:
        raise ProofNotFound("eeID holds no proof of identity for this session.")
    return pdf


def identifications(owner: str, page: int, page_size: int, *, sessions: WebhookSessions) -> dict[str, Any]:
    """eeID's page of the service's requests, keeping only those of the caller's own sessions (each
    request's reference is our session id) that are not erased, and only what the caller needs: no
    names, codes or links."""
    listing = EeidClient.configured().list_requests(page, page_size)
    items = [item for item in listing.get("items") or [] if isinstance(item, dict)]
    references = [str(item["reference"]) for item in items if isinstance(item.get("reference"), str)]
    owned = {
        session_id
        for session_id, (who, method) in sessions.owners(references).items()
        if who == owner and method == METHOD.name
    }
    total = listing.get("total")
    more = isinstance(total, int) and page * page_size < total
    return {
        "page": page,
        "page_size": page_size,
        "next_page": page + 1 if more else None,
        "items": [
            {
                "session_id": item["reference"],
                "identification_request_id": item.get("id"),
                "status": item.get("status"),
                "completed_at": item.get("completed_at"),
                "link_expires_at": item.get("link_expires_at"),
                "claims_matched": item.get("claims_matched"),
            }
            for item in items
            if item.get("reference") in owned
        ],
    }
