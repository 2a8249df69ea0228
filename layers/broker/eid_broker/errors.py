"""The broker's error vocabulary, in one place.

API errors become RFC 9457 problem+json through `problem()`. A session's outcome codes are `Code`. A
fault that escapes a Step Functions task surfaces by class name (`errorType`); `code_for_task_error`
maps the name back to the session's code through the class itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal


class Code(StrEnum):
    """The session error vocabulary of the public contract (docs/api.md), stable across methods and
    providers."""

    NOT_MOBILE_ID_USER = "NOT_MOBILE_ID_USER"
    NOT_SMART_ID_USER = "NOT_SMART_ID_USER"
    ACCOUNT_UNUSABLE = "ACCOUNT_UNUSABLE"
    USER_CANCELLED = "USER_CANCELLED"
    TIMEOUT = "TIMEOUT"
    PHONE_UNREACHABLE = "PHONE_UNREACHABLE"
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    BIOMETRIC_MISMATCH = "BIOMETRIC_MISMATCH"
    BIOMETRIC_ERROR = "BIOMETRIC_ERROR"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    OTP_INVALID = "OTP_INVALID"
    OTP_EXPIRED = "OTP_EXPIRED"
    OTP_ATTEMPTS_EXHAUSTED = "OTP_ATTEMPTS_EXHAUSTED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    CLAIMS_MISMATCH = "CLAIMS_MISMATCH"
    PROVIDER_SESSION_NOT_FOUND = "PROVIDER_SESSION_NOT_FOUND"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    PROVIDER_MISCONFIGURED = "PROVIDER_MISCONFIGURED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


FinalStatus = Literal["failed", "expired"]


class BrokerError(Exception):
    status: int = 500
    code: str = "INTERNAL_ERROR"
    title: str = "Internal error"
    retry_after: int | None = None  # seconds, sent as Retry-After
    # What a session records when this fault outlasts its deadline while polling.
    poll_outcome: tuple[Code, str] = (Code.INTERNAL_ERROR, "Polling failed unexpectedly.")

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:eid-broker:problem:{self.code.lower().replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


class UnreadableBody(BrokerError):
    status, code, title = 400, "UNREADABLE_BODY", "Unreadable request body"


class InvalidSignature(BrokerError):
    status, code, title = 401, "INVALID_SIGNATURE", "Missing or invalid signature"


class Forbidden(BrokerError):
    status, code, title = 403, "FORBIDDEN", "Forbidden"


class PersonRateLimited(BrokerError):
    """Too many starts for one person (push/SMS bombing guard); nothing was sent or stored."""

    status, code, title = 429, "PERSON_RATE_LIMITED", "Too many attempts for this person"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after  # this refusal's own wait


class RateLimited(BrokerError):
    """Too many calls of one kind from one API key (manual webhook calls); nothing was queued."""

    status, code, title = 429, "RATE_LIMITED", "Too many requests from this API key"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyWaits(BrokerError):
    """The API key already has LONG_POLL_MAX_PER_KEY long-poll reads waiting; nothing was read."""

    status, code, title = 429, "TOO_MANY_WAITS", "Too many long-poll reads waiting"
    retry_after = 1


class SessionNotFound(BrokerError):
    status, code, title = 404, "SESSION_NOT_FOUND", "Session not found"


class EndpointNotFound(BrokerError):
    status, code, title = 404, "WEBHOOK_ENDPOINT_NOT_FOUND", "No webhook endpoint"


class DeliveryNotFound(BrokerError):
    status, code, title = 404, "DELIVERY_NOT_FOUND", "Delivery not found"


class RouteNotFound(BrokerError):
    status, code, title = 404, "ROUTE_NOT_FOUND", "Not found"


class ProofNotFound(BrokerError):
    status, code, title = 404, "PROOF_NOT_FOUND", "No proof of identity"


class ActionNotAllowed(BrokerError):
    status, code, title = 409, "ACTION_NOT_ALLOWED", "Action not allowed in this session status"


class Erased(BrokerError):
    status, code, title = 410, "ERASED", "The session's personal data was erased"


class IdempotencyInProgress(BrokerError):
    status, code, title = 409, "IDEMPOTENCY_IN_PROGRESS", "A request with this Idempotency-Key is in progress"


class BodyTooLarge(BrokerError):
    status, code, title = 413, "BODY_TOO_LARGE", "Request body too large"


class UnsupportedMediaType(BrokerError):
    status, code, title = 415, "UNSUPPORTED_MEDIA_TYPE", "Request body must be application/json"


class InvalidInput(BrokerError):
    status, code, title = 422, "INVALID_INPUT", "Invalid input"


class IdempotencyKeyReused(BrokerError):
    status, code, title = 422, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key reused with a different body"


class ProviderBadResponse(BrokerError):
    """The provider answered something the broker cannot read."""

    status, code, title = 502, "PROVIDER_ERROR", "Provider answered unexpectedly"
    poll_outcome = (Code.PROVIDER_ERROR, "The provider answered unexpectedly until the deadline.")


class ProviderRefused(BrokerError):
    """A provider refusal the broker has no meaning for, in a synchronous call; nothing was changed."""

    status, code, title = 502, "PROVIDER_ERROR", "Provider refused the request"

    def __init__(self, detail: str, *, provider: str, provider_code: str | None) -> None:
        super().__init__(detail)
        self.provider = provider
        self.provider_code = provider_code

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "provider": self.provider, "provider_code": self.provider_code}


class ProviderUnavailable(BrokerError):
    """Connection error, timeout or 5xx after bounded retries. Nothing was stored."""

    status, code, title = 503, "PROVIDER_UNAVAILABLE", "Provider unavailable"
    retry_after = 5
    poll_outcome = (Code.PROVIDER_UNAVAILABLE, "The provider could not be reached until the deadline.")


class InternalUnavailable(BrokerError):
    status, code, title = 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable"
    retry_after = 5


class StartUncertain(BrokerError):
    """The provider was asked, but the session could not be recorded (or it is unknown whether it was)."""

    status, code, title = 503, "SERVICE_UNAVAILABLE", "The session could not be recorded"
    retry_after = 5

    def __init__(self, detail: str, *, session_id: str) -> None:
        super().__init__(detail)
        self.session_id = session_id


# Faults that say nothing about the person: polling tries again at the next poll.
TRANSIENT: tuple[type[BrokerError], ...] = (ProviderUnavailable, ProviderBadResponse, InternalUnavailable)


class SessionOutcomeError(Exception):
    """A provider's final word that ends a session (raised by clients, recorded by the session service)."""

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        provider: str | None,
        provider_code: str | None = None,
        status: FinalStatus = "failed",
    ) -> None:
        super().__init__(code)
        self.code = Code(code)
        self.message = message
        self.provider = provider
        self.provider_code = provider_code
        self.status = status


Outcome = tuple[Code, str, FinalStatus]  # a provider code's meaning: broker code, message, session status


def outcome_of(
    table: Mapping[Any, Outcome], provider_code: int | str | None, *, provider: str, refused: str
) -> SessionOutcomeError:
    """A provider's code through its table; a code the table lacks is PROVIDER_ERROR, keeping the code."""
    code, message, status = table.get(provider_code, (Code.PROVIDER_ERROR, refused, "failed"))
    kept = None if provider_code is None or provider_code == "" else str(provider_code)
    return SessionOutcomeError(code, message, provider=provider, provider_code=kept, status=status)


def code_for_task_error(error_name: str) -> tuple[Code, str]:
    """The session code for a Step Functions task error (errorType is the exception's class name)."""
    by_name = {fault.__name__: fault for fault in TRANSIENT}
    return by_name.get(error_name, BrokerError).poll_outcome
