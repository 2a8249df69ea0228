"""The broker's error vocabulary, in one place.

API errors become RFC 9457 problem+json through `problem()`. Exceptions raised inside Step Functions
tasks surface to the ASL by class name (`errorType`), so `ProviderUnavailable` and friends are the
names the state machine's Retry/Catch match; `code_for_task_error` maps them back to session codes.
"""

from __future__ import annotations

from typing import Any


class BrokerError(Exception):
    status: int = 500
    code: str = "INTERNAL_ERROR"
    title: str = "Internal error"

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
        self.retry_after = retry_after


class SessionNotFound(BrokerError):
    status, code, title = 404, "SESSION_NOT_FOUND", "Session not found"


class RouteNotFound(BrokerError):
    status, code, title = 404, "ROUTE_NOT_FOUND", "Not found"


class ProofNotFound(BrokerError):
    status, code, title = 404, "PROOF_NOT_FOUND", "No proof of identity"


class ActionNotAllowed(BrokerError):
    status, code, title = 409, "ACTION_NOT_ALLOWED", "Action not allowed in this session status"


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
    """A provider's final word that ends a session (raised by clients, recorded by the methods)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        provider: str,
        provider_code: str | None = None,
        status: str = "failed",
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.provider = provider
        self.provider_code = provider_code
        self.status = status


# Step Functions task errors (errorType) → the session's error code when polling cannot finish.
_TASK_ERROR_CODES: dict[str, tuple[str, str]] = {
    "ProviderUnavailable": ("PROVIDER_UNAVAILABLE", "The provider could not be reached until the deadline."),
    "ProviderBadResponse": ("PROVIDER_ERROR", "The provider answered unexpectedly until the deadline."),
}


def code_for_task_error(error_name: str) -> tuple[str, str]:
    return _TASK_ERROR_CODES.get(error_name, ("INTERNAL_ERROR", "Polling failed unexpectedly."))
