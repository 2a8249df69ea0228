"""mobbid-face: a MobbID gateway face verification, confirmed server side by polling the process and
reading the biometric operation (never by trusting the browser's return)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eid_broker import aws
from eid_broker.config import get_settings, is_loopback_host
from eid_broker.errors import SessionOutcomeError
from eid_broker.http import shared_session
from eid_broker.observability import logger
from eid_broker.polling import Handler, poll_handler
from eid_broker.providers.mobbid import PROVIDER, MobbidClient, Operation
from eid_broker.sessions import Identity, NextAction, SessionRecord
from eid_broker.sessions.service import PollPlan, SessionService, subject_digest
from eid_broker.tokens import shared_cache

METHOD = "mobbid-face"
# A face capture takes a person a minute or two; four minutes bounds an abandoned one. Every 5 s keeps
# a full 240 s session inside the cost target (see README).
INTERVAL_SECONDS = 5.0
TIMEOUT_SECONDS = 240.0


class MobbidStart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(
        description="The MobbID user to verify (enrolled beforehand).",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._@:-]+$",
        examples=["user-verified"],
    )
    return_url: str = Field(
        description="Where the gateway sends the person afterwards: https (plain http only for loopback).",
        max_length=2048,
        examples=["https://integrator.example/after-face-check"],
        json_schema_extra={
            "pattern": r"^(https://[^/?#\s]+|http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?)([/?#].*)?$"
        },
    )
    reference: str | None = Field(default=None, description="The integrator's own reference.", max_length=128)

    @field_validator("return_url")
    @classmethod
    def _return_url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
        ):
            raise ValueError("must be an https URL (plain http only for loopback)")
        return url


def client() -> MobbidClient:
    settings = get_settings()
    secret = aws.provider_secret(
        settings.mobbid_secret_name,
        required=("application_id", "api_key"),
        max_age=settings.secrets_max_age_seconds,
    )
    return MobbidClient(
        settings.mobbid_base_url or "",
        secret["application_id"],
        secret["api_key"],
        shared_session(),
        shared_cache(),
    )


def start(request: MobbidStart, *, owner: str, sessions: SessionService) -> SessionRecord:
    settings = get_settings()
    timeout = settings.timeout_for(TIMEOUT_SECONDS)
    try:
        process_id, gateway_url = client().create_process(request.user_id, request.return_url)
    except SessionOutcomeError as refusal:
        if refusal.code == "PROVIDER_MISCONFIGURED":
            logger.error(
                "MobbID refused the broker's configuration", extra={"provider_code": refusal.provider_code}
            )
        return sessions.record_refusal(
            method=METHOD, owner=owner, reference=request.reference, refusal=refusal, lifetime=timeout
        )
    record = sessions.open_polled(
        method=METHOD,
        owner=owner,
        reference=request.reference,
        next_action=NextAction(type="redirect", url=gateway_url),
        provider_ref={"process_id": process_id},
        expected_subject_hmac=subject_digest(PROVIDER, request.user_id),
        plan=PollPlan(
            poll_function_arn=settings.poll_function_arn or "",
            interval_seconds=settings.interval_for(INTERVAL_SECONDS),
            timeout_seconds=timeout,
        ),
    )
    return record


def identity_of(operation: Operation) -> Identity:
    data = operation.data
    return Identity(
        subject=data.userId,
        evidence={
            "operation_id": operation.id,
            "liveness": data.liveness,
            "scores": {score.scoreType: score.score for score in data.scores},
            "resources": sorted({resource.type for resource in operation.resources}),
        },
    )


def check(record: SessionRecord) -> Identity | None:
    """The process first; once COMPLETED, the operation decides. None while either is under way."""
    mobbid = client()
    process = mobbid.process(record.provider_ref["process_id"])
    if process.status != "COMPLETED" or not process.operationId:
        return None
    operation = mobbid.operation(process.operationId)
    if operation.status in ("PENDING", "PROCESSING"):
        return None
    if operation.status == "ERROR":
        raise SessionOutcomeError(
            "BIOMETRIC_ERROR",
            f"MobbID could not complete the face verification: {operation.data.error or 'no detail given'}",
            provider=PROVIDER,
        )
    if record.expected_subject_hmac != subject_digest(PROVIDER, operation.data.userId or ""):
        raise SessionOutcomeError(
            "IDENTITY_MISMATCH", "MobbID verified another user than the one asked for.", provider=PROVIDER
        )
    if operation.data.result is not True:
        raise SessionOutcomeError(
            "BIOMETRIC_MISMATCH", "The face did not match the enrolled user.", provider=PROVIDER
        )
    return identity_of(operation)


def method_poll_handler() -> Handler:
    return poll_handler(check, lambda record: get_settings().interval_for(INTERVAL_SECONDS))
