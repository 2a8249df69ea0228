"""mosip-otp and mosip-password: MOSIP logins (the pass-throughs are in eid_broker.mosip_passthrough).

The MOSIP token a login yields is handed to the integrator once, in the response that completes the
session; it is never stored (only its existence is recorded) and never logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eid_broker import identifiers
from eid_broker.config import get_settings
from eid_broker.errors import ActionNotAllowed, BrokerError, Code, ProviderRefused, SessionOutcomeError
from eid_broker.methods.base import Method, Opening, StartBody
from eid_broker.methods.ports import OtpSessions
from eid_broker.observability import logger
from eid_broker.password_guard import AttemptGuard, password_guard
from eid_broker.providers.mosip import PROVIDER, MosipClient, MosipSettings
from eid_broker.sessions.models import Credentials, EnterOtp, Identity, SessionRecord, iso

ATTEMPTS = 3
WATCH_SLACK_SECONDS = 1.0  # the expiry watch wakes this long after the deadline
# ASCII digits in full: pydantic's `\d` would take any Unicode digit.
OTP_PATTERN = r"^[0-9]{4,8}$"
# MOSIP user ids: ASCII, no spaces; never in the broker's OTP-manager namespace (see otp_manager_key).
USER_ID_PATTERN = r"^[A-Za-z0-9._@+-]+$"
NAMESPACE_PREFIX = "eidb-"
APP_IDS = ("preregistration", "registrationclient", "registrationprocessor", "ida", "admin", "resident")
AppId = Literal["preregistration", "registrationclient", "registrationprocessor", "ida", "admin", "resident"]


def _outside_namespace(user_id: str) -> str:
    if user_id.lower().startswith(NAMESPACE_PREFIX):
        raise ValueError(
            f"must not start with {NAMESPACE_PREFIX!r} (reserved for the OTP-manager pass-through)"
        )
    return user_id


class MosipOtpStart(StartBody):
    user_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=USER_ID_PATTERN,
        description="The MOSIP user id or UIN.",
        examples=["alice"],
    )
    user_id_type: Literal["UIN", "USERID"] = Field(examples=["USERID"])
    channels: list[Literal["phone", "email"]] = Field(
        min_length=1, max_length=2, examples=[["email"]], json_schema_extra={"uniqueItems": True}
    )
    app_id: AppId | None = Field(default=None, description="Defaults to MOSIP_APP_ID.")
    context: str | None = Field(default=None, max_length=64)

    _user_id = field_validator("user_id")(_outside_namespace)

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("must not repeat a channel")
        return channels


class MosipPasswordStart(StartBody):
    username: str = Field(min_length=1, max_length=64, pattern=USER_ID_PATTERN, examples=["alice"])
    password: str = Field(min_length=1, max_length=256, json_schema_extra={"writeOnly": True})
    app_id: AppId | None = None

    _username = field_validator("username")(_outside_namespace)


class OtpSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    otp: str = Field(pattern=OTP_PATTERN, description="The 4-8 digit code the person received.")


def _settings() -> MosipSettings:
    return get_settings().provider(MosipSettings)


def client() -> MosipClient:
    return MosipClient.configured(_settings().app_id)


def _credentials(token: str, expires: float) -> Credentials:
    return Credentials(
        type="mosip_auth_token", token=token, expires_at=iso(datetime.fromtimestamp(expires, UTC))
    )


def _identity(user_id: str) -> Identity:
    return Identity(subject=user_id, evidence={"user_id": user_id})


class MosipOtpMethod(Method):
    name = "mosip-otp"
    body = MosipOtpStart
    summary = "Start a MOSIP OTP login"
    description = "MOSIP sends the person an OTP; submit it to `POST /v1/sessions/{session_id}/otp`."
    expiry_code = Code.OTP_EXPIRED
    throttle_family = "mosip-otp"
    # Not polled (the OTP is checked when submitted); one wake-up just past the deadline ends a session
    # nobody completed: expired OTP_EXPIRED, its event pushed, its provider reference dropped.
    interval_seconds = WATCH_SLACK_SECONDS

    def lifetime(self) -> float:
        return _settings().otp_ttl_seconds

    def first_wait(self) -> float:
        return self.lifetime() + WATCH_SLACK_SECONDS

    def wait(self, record: SessionRecord, now: datetime) -> float:
        return max(1.0, (record.expires_at_dt() - now).total_seconds() + WATCH_SLACK_SECONDS)

    def due_in(self, record: SessionRecord, now: datetime) -> float:
        return 0.0

    def check(self, record: SessionRecord) -> Identity | None:
        return None  # nothing to ask MOSIP: the deadline alone ends an OTP nobody submitted

    def person(self, body: MosipOtpStart) -> dict[str, str]:
        return {"user_id": identifiers.user_id(body.user_id)}

    def begin(self, body: MosipOtpStart, session_id: str) -> Opening:
        app_id = body.app_id or _settings().app_id
        client().send_otp(body.user_id, body.user_id_type, list(body.channels), app_id, body.context)
        expires = datetime.now(UTC) + timedelta(seconds=self.lifetime())
        return Opening(
            next_action=EnterOtp(
                channels=list(body.channels),
                attempts_left=ATTEMPTS,
                expires_at=iso(expires),
            ),
            provider_ref={"user_id": body.user_id, "app_id": app_id},
        )


class MosipPasswordMethod(Method):
    name = "mosip-password"
    body = MosipPasswordStart
    summary = "Log in to MOSIP with user name and password"
    description = (
        "Completes or fails at once. A completed session's response carries the MOSIP token in "
        "`credentials`, once: the broker never stores it and never returns it again."
    )
    hands_credentials = True

    def lifetime(self) -> float:
        return 0

    def attempt_guard(self, body: MosipPasswordStart, owner: str) -> AttemptGuard:
        return password_guard(owner, body.username)

    def begin(self, body: MosipPasswordStart, session_id: str) -> Opening:
        mosip = client()
        app_id = body.app_id or _settings().app_id
        token, expires = mosip.password_login(body.username, body.password, app_id)
        return Opening(
            identity=_identity(body.username),
            credentials=_credentials(token, expires),
            undo=lambda: discard(mosip, token),  # not recorded, so not handed over: it must not stay valid
        )


OTP_METHOD = MosipOtpMethod()
PASSWORD_METHOD = MosipPasswordMethod()


def submit_otp(
    session_id: str, owner: str, submission: OtpSubmission, *, sessions: OtpSessions
) -> tuple[SessionRecord, Credentials | None]:
    """Reserve an attempt, then check the OTP with MOSIP; the broker enforces lifetime and attempts."""
    record = sessions.read(session_id, owner)
    if record.method != OTP_METHOD.name or record.status != "pending" or record.next_action is None:
        raise ActionNotAllowed(f"OTPs are accepted only by a pending {OTP_METHOD.name} session.")

    def now(written: SessionRecord | None) -> SessionRecord:
        # A write answers with the new record; after a lost race, read what won.
        return written or sessions.read(session_id, owner)

    if datetime.now(UTC) >= record.expires_at_dt():
        return now(sessions.expire(record)), None
    mosip = client()
    reserved = sessions.take_attempt(session_id)
    if reserved is None:
        raise ActionNotAllowed("No OTP attempt is left for this session, or it has ended.")
    user_id, app_id = record.provider_ref["user_id"], record.provider_ref["app_id"]
    try:
        verified = mosip.verify_otp(user_id, submission.otp, app_id)
    except SessionOutcomeError as outcome:
        if outcome.code in (Code.OTP_EXPIRED, Code.OTP_ATTEMPTS_EXHAUSTED):
            return now(sessions.fail_with(session_id, outcome)), None
        sessions.give_back_attempt(session_id)
        raise ProviderRefused(
            "MOSIP refused the OTP check; the session is unchanged.",
            provider=PROVIDER,
            provider_code=outcome.provider_code,
        ) from outcome
    except BrokerError:
        sessions.give_back_attempt(session_id)  # MOSIP never judged this OTP
        raise
    if verified is not None:
        try:
            completed = sessions.complete(session_id, _identity(user_id))
        except BrokerError:
            discard(mosip, verified[0])  # not recorded, so not handed over: it must not stay valid
            raise
        if completed is None:
            discard(mosip, verified[0])
            raise ActionNotAllowed("The session ended meanwhile.")
        return completed, _credentials(*verified)
    if not isinstance(reserved.next_action, EnterOtp) or not reserved.next_action.attempts_left:
        exhausted = SessionOutcomeError(
            Code.OTP_ATTEMPTS_EXHAUSTED, "Three wrong OTPs: the session has ended.", provider=PROVIDER
        )
        return now(sessions.fail_with(session_id, exhausted)), None
    return reserved, None  # the reservation's write already answered the session as it now stands


def discard(mosip: MosipClient, token: str) -> None:
    """A token the broker cannot hand over must not stay valid."""
    try:
        mosip.invalidate_token(token)
    except (BrokerError, SessionOutcomeError) as exc:
        logger.warning("unhanded MOSIP token not invalidated", extra={"reason": type(exc).__name__})
