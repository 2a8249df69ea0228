"""mosip-otp and mosip-password: synchronous MOSIP logins, plus the token and OTP-manager pass-throughs.

The MOSIP token a login yields is handed to the integrator once, in the response that completes the
session; it is never stored (only its existence is recorded) and never logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eid_broker import aws
from eid_broker.config import get_settings
from eid_broker.errors import ActionNotAllowed, SessionOutcomeError
from eid_broker.http import shared_session
from eid_broker.observability import logger
from eid_broker.providers.mosip import PROVIDER, MosipClient
from eid_broker.sessions import Credentials, Identity, NextAction, SessionRecord
from eid_broker.sessions.models import iso
from eid_broker.sessions.service import SessionService
from eid_broker.tokens import shared_cache

OTP_METHOD = "mosip-otp"
PASSWORD_METHOD = "mosip-password"
ATTEMPTS = 3
APP_IDS = ("preregistration", "registrationclient", "registrationprocessor", "ida", "admin", "resident")
AppId = Literal["preregistration", "registrationclient", "registrationprocessor", "ida", "admin", "resident"]


class MosipOtpStart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(
        min_length=1, max_length=64, description="The MOSIP user id or UIN.", examples=["alice"]
    )
    user_id_type: Literal["UIN", "USERID"] = Field(examples=["USERID"])
    channels: list[Literal["phone", "email"]] = Field(min_length=1, max_length=2, examples=[["email"]])
    app_id: AppId | None = Field(default=None, description="Defaults to MOSIP_APP_ID.")
    context: str | None = Field(default=None, max_length=64)
    reference: str | None = Field(default=None, max_length=128)

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("must not repeat a channel")
        return channels


class MosipPasswordStart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=64, examples=["alice"])
    password: str = Field(min_length=1, max_length=256)
    app_id: AppId | None = None
    reference: str | None = Field(default=None, max_length=128)


class OtpSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    otp: str = Field(pattern=r"^\d{4,8}$", description="The 4-8 digit code the person received.")


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(min_length=1, max_length=8192)


class OtpKey(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    key: str = Field(min_length=3, max_length=64)


class OtpCheck(OtpKey):
    otp: str = Field(pattern=r"^\d{4,8}$")


def client() -> MosipClient:
    settings = get_settings()
    secret = aws.provider_secret(
        settings.mosip_secret_name,
        required=("client_id", "secret_key"),
        max_age=settings.secrets_max_age_seconds,
    )
    return MosipClient(
        settings.mosip_base_url or "",
        secret["client_id"],
        secret["secret_key"],
        settings.mosip_app_id,
        shared_session(),
        shared_cache(),
    )


def _credentials(token: str, expires: float) -> Credentials:
    return Credentials(
        type="mosip_auth_token", token=token, expires_at=iso(datetime.fromtimestamp(expires, UTC))
    )


def _identity(user_id: str) -> Identity:
    return Identity(subject=user_id, evidence={"user_id": user_id})


def _refused(refusal: SessionOutcomeError) -> None:
    if refusal.code == "PROVIDER_MISCONFIGURED":
        logger.error(
            "MOSIP refused the broker's configuration", extra={"provider_code": refusal.provider_code}
        )


def start_otp(request: MosipOtpStart, *, owner: str, sessions: SessionService) -> SessionRecord:
    settings = get_settings()
    app_id = request.app_id or settings.mosip_app_id
    ttl = settings.mosip_otp_ttl_seconds
    try:
        client().send_otp(
            request.user_id, request.user_id_type, list(request.channels), app_id, request.context
        )
    except SessionOutcomeError as refusal:
        _refused(refusal)
        return sessions.record_refusal(
            method=OTP_METHOD, owner=owner, reference=request.reference, refusal=refusal, lifetime=ttl
        )
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    return sessions.open_waiting(
        method=OTP_METHOD,
        owner=owner,
        reference=request.reference,
        next_action=NextAction(
            type="enter_otp", channels=list(request.channels), attempts_left=ATTEMPTS, expires_at=iso(expires)
        ),
        provider_ref={"user_id": request.user_id, "app_id": app_id},
        lifetime=ttl,
        expiry_code="OTP_EXPIRED",
    )


def submit_otp(
    session_id: str, owner: str, submission: OtpSubmission, *, sessions: SessionService
) -> tuple[SessionRecord, Credentials | None]:
    """Check the OTP with MOSIP; the broker enforces the OTP's lifetime and the attempts itself."""
    record = sessions.read(session_id, owner)
    if record.method != OTP_METHOD or record.status != "pending" or record.next_action is None:
        raise ActionNotAllowed(f"OTPs are accepted only by a pending {OTP_METHOD} session.")

    def now(written: SessionRecord | None) -> SessionRecord:
        # A write answers with the new record; after a lost race, read what won.
        return written or sessions.read(session_id, owner)

    if datetime.now(UTC) >= record.expires_at_dt():
        return now(sessions.expire(record)), None
    user_id, app_id = record.provider_ref["user_id"], record.provider_ref["app_id"]
    try:
        verified = client().verify_otp(user_id, submission.otp, app_id)
    except SessionOutcomeError as outcome:
        if outcome.code in ("OTP_EXPIRED", "OTP_ATTEMPTS_EXHAUSTED"):
            return now(sessions.fail_with(session_id, outcome)), None
        raise
    if verified is not None:
        completed = sessions.complete(session_id, _identity(user_id))
        if completed is None:
            raise ActionNotAllowed("The session ended meanwhile.")
        return completed, _credentials(*verified)
    left = record.next_action.attempts_left or 0
    if left <= 1:
        exhausted = SessionOutcomeError(
            "OTP_ATTEMPTS_EXHAUSTED", "Three wrong OTPs: the session has ended.", provider=PROVIDER
        )
        return now(sessions.fail_with(session_id, exhausted)), None
    if not sessions.repo.use_attempt(session_id, left):
        raise ActionNotAllowed("Another OTP for this session was being checked; try again.")
    return sessions.read(session_id, owner), None


def start_password(
    request: MosipPasswordStart, *, owner: str, sessions: SessionService
) -> tuple[SessionRecord, Credentials | None]:
    app_id = request.app_id or get_settings().mosip_app_id
    try:
        token, expires = client().password_login(request.username, request.password, app_id)
    except SessionOutcomeError as refusal:
        _refused(refusal)
        record = sessions.record_refusal(
            method=PASSWORD_METHOD, owner=owner, reference=request.reference, refusal=refusal, lifetime=0
        )
        return record, None
    record = sessions.record_completed(
        method=PASSWORD_METHOD, owner=owner, reference=request.reference, identity=_identity(request.username)
    )
    return record, _credentials(token, expires)


def validate_token(token: str) -> dict[str, Any]:
    user = client().validate_token(token)
    if user is None:
        return {"valid": False, "user_id": None, "roles": []}
    roles = [role for role in str(user.get("role") or "").split(",") if role]
    return {"valid": True, "user_id": user.get("userId"), "roles": roles}


def invalidate_token(token: str) -> dict[str, Any]:
    client().invalidate_token(token)
    return {"invalidated": True}


def generate_otp(key: str) -> dict[str, Any]:
    answer = client().generate_otp(key)
    return {"status": answer.get("status"), "otp": answer.get("otp")}


def validate_otp(key: str, otp: str) -> dict[str, Any]:
    answer = client().validate_otp(key, otp)
    return {
        "valid": answer.get("status") == "success",
        "status": answer.get("message") or answer.get("status"),
    }
