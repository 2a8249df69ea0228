"""Outbound webhooks: an integrator's endpoint and the deliveries made to it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeliveryStatus = Literal["pending", "delivered", "retrying", "exhausted"]
EventType = Literal[
    "session.completed", "session.failed", "session.expired", "session.cancelled", "webhook.test"
]
TEST_EVENT: EventType = "webhook.test"


class Endpoint(BaseModel):
    """The stored endpoint of one API key. The secrets never leave it but to sign, or once to the
    integrator that created or rotated them."""

    # A validation error must not echo a secret into a log.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    owner: str
    url: str
    enabled: bool = True
    created_at: str
    updated_at: str
    secret: str
    previous_secret: str | None = None
    previous_until: float | None = None  # epoch seconds: the previous secret signs until then
    disabled_at: str | None = None

    def signing_secrets(self, now: float) -> list[str]:
        """Both secrets during the 24 h after a rotation, else the current one."""
        keep = self.previous_secret is not None and (self.previous_until or 0) > now
        return [self.secret, self.previous_secret] if keep else [self.secret]  # type: ignore[list-item]

    def to_out(self, secret: str | None = None) -> EndpointOut:
        return EndpointOut(url=self.url, enabled=self.enabled, created_at=self.created_at, secret=secret)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https://… (deployed: a public host; http:// only to loopback, and only on `make run`).",
        examples=["https://integrator.example/eid-broker/events"],
    )


class EndpointOut(BaseModel):
    url: str
    enabled: bool
    created_at: str
    secret: str | None = Field(
        default=None,
        description="`whsec_` + base64 of 32 random bytes: only in the answer that created the endpoint.",
    )


class SecretOut(BaseModel):
    secret: str


class Deleted(BaseModel):
    deleted: bool = True


class DeliveryQueued(BaseModel):
    delivery_id: str


class Delivery(BaseModel):
    """One event for one endpoint, the same id on every attempt. Holds no personal data: the body is
    built from the session at each attempt."""

    model_config = ConfigDict(frozen=True)

    owner: str
    delivery_id: str
    event_type: EventType
    session_id: str | None = None
    status: DeliveryStatus = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None
    created_at: str
    claimed_until: float | None = None
    ttl: int

    def to_out(self) -> DeliveryOut:
        return DeliveryOut.model_validate(self.model_dump(include=set(DeliveryOut.model_fields)))


class DeliveryOut(BaseModel):
    delivery_id: str
    event_type: EventType
    session_id: str | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None = Field(
        default=None, description="Why the last attempt failed when there was no HTTP status (timeout, …)."
    )
    next_attempt_at: str | None
    created_at: str


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` for the next (older) page; null on the last page. Opaque, and valid "
        "only for the API key and the `session_id` filter it was given for.",
    )


class Attempt(BaseModel):
    """The queue message: try `delivery_id` for the `attempt`-th time, not before `not_before`."""

    model_config = ConfigDict(frozen=True)

    owner: str
    delivery_id: str
    attempt: int = Field(ge=1)
    not_before: float = 0.0
