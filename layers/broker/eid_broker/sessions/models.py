"""The session: what is stored (SessionRecord) and what the API shows (SessionOut), mapped explicitly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from eid_broker.certificates import Certificate

# A session id: the UUID the broker gave it (a route or a filter refuses anything else).
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Status = Literal["pending", "completed", "failed", "expired", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The discriminator `type` has a default, so each action names its required fields for the schema.
class ShowControlCode(BaseModel):
    """Mobile-ID and Smart-ID: show the code the person must see on the phone before confirming."""

    model_config = ConfigDict(json_schema_extra={"required": ["type", "control_code"]})

    type: Literal["show_control_code"] = "show_control_code"
    control_code: str = Field(examples=["4231"])


class Redirect(BaseModel):
    """eeID and MobbID: send the person to `url` (until `expires_at`, when the provider sets one)."""

    model_config = ConfigDict(json_schema_extra={"required": ["type", "url"]})

    type: Literal["redirect"] = "redirect"
    url: str
    expires_at: str | None = Field(default=None, exclude_if=lambda value: value is None)


class EnterOtp(BaseModel):
    """MOSIP OTP: ask the person for the code sent over `channels`."""

    model_config = ConfigDict(
        json_schema_extra={"required": ["type", "channels", "attempts_left", "expires_at"]}
    )

    type: Literal["enter_otp"] = "enter_otp"
    channels: list[str]
    attempts_left: int
    expires_at: str


# What the integrator shows the person while the session is pending, told apart by `type`.
NextAction = Annotated[ShowControlCode | Redirect | EnterOtp, Field(discriminator="type")]


MAX_MESSAGE = 200


class SessionError(BaseModel):
    code: str = Field(examples=["NOT_MOBILE_ID_USER"])
    # Always the broker's own text, never a provider's free text (which may name the person).
    message: str = Field(max_length=MAX_MESSAGE)
    provider: str | None = Field(default=None, examples=["dokobit"])
    provider_code: str | None = Field(default=None, examples=["6001"])

    @field_validator("message", mode="before")
    @classmethod
    def _bounded(cls, message: Any) -> Any:
        if isinstance(message, str) and len(message) > MAX_MESSAGE:
            return message[: MAX_MESSAGE - 1] + "…"
        return message


class Identity(BaseModel):
    country: str | None = None
    personal_code: str | None = None
    given_name: str | None = None
    surname: str | None = None
    date_of_birth: str | None = None
    subject: str | None = None
    certificate: Certificate | None = None
    evidence: dict[str, Any] = {}


class _SessionFields(BaseModel):
    session_id: str
    method: str
    status: Status
    reference: str | None = None
    created_at: str
    updated_at: str
    expires_at: str
    next_action: NextAction | None = None
    identity: Identity | None = None
    error: SessionError | None = None
    erased_at: str | None = Field(default=None, description="When the session's personal data was erased.")


class SessionOut(_SessionFields):
    """The public session object."""


class Credentials(BaseModel):
    """A provider token handed to the integrator once, in the response that completes the session."""

    type: Literal["mosip_auth_token"]
    token: str
    expires_at: str


class SessionWithCredentials(SessionOut):
    """The session; `credentials` appear only in the response that completes a MOSIP session."""

    credentials: Credentials | None = None

    @model_serializer(mode="wrap")
    def _only_when_handed(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if data.get("credentials") is None:
            data.pop("credentials", None)
        return data


class SessionRecord(_SessionFields):
    """The stored session: the public fields plus what only the broker needs. Shown only via to_out()."""

    # A validation error (of a streamed image, say) must not echo personal data into a log.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    owner: str
    # Provider handles needed to poll (never placed in execution state or logs).
    provider_ref: dict[str, str] = {}
    # Keyed digest of who was asked for, so the result can be checked without storing the request;
    # removed when the session ends.
    expected_subject_hmac: str | None = None
    # The error code a pending session gets when its time runs out (default TIMEOUT).
    expiry_code: str | None = None
    # A cancel keeps provider_ref only for a method whose next poll tells the provider (then drops it).
    abandon_on_cancel: bool = False
    ttl: int

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def created_at_dt(self) -> datetime:
        return datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))

    def updated_at_dt(self) -> datetime:
        return datetime.fromisoformat(self.updated_at.replace("Z", "+00:00"))

    def expires_at_dt(self) -> datetime:
        return datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))

    def to_out(self) -> SessionOut:
        return SessionOut.model_validate(self.model_dump(include=set(_SessionFields.model_fields)))
