"""mobbid-face: a MobbID gateway face verification, confirmed server side by polling the process and
reading the biometric operation (never by trusting the browser's return)."""

from __future__ import annotations

from pydantic import Field, field_validator

from eid_broker.config import is_loopback_host
from eid_broker.errors import Code, SessionOutcomeError
from eid_broker.methods.base import Method, Opening, StartBody, subject_digest
from eid_broker.providers.mobbid import PROVIDER, MobbidClient, Operation
from eid_broker.sessions.models import Identity, Redirect, SessionRecord

# A face capture takes a person a minute or two; four minutes bounds an abandoned one. Every 5 s keeps
# a full 240 s session inside the cost target (see README).
INTERVAL_SECONDS = 5.0
TIMEOUT_SECONDS = 240.0


class MobbidStart(StartBody):
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


class MobbidMethod(Method):
    name = "mobbid-face"
    body = MobbidStart
    summary = "Start a MobbID face verification"
    description = (
        "Send the person to `next_action.url` (the MobbID gateway). The broker confirms the result "
        "with MobbID itself; the gateway's redirect back to `return_url` proves nothing."
    )
    interval_seconds = INTERVAL_SECONDS
    timeout_seconds = TIMEOUT_SECONDS

    def begin(self, body: MobbidStart, session_id: str) -> Opening:
        process_id, gateway_url = MobbidClient.configured().create_process(body.user_id, body.return_url)
        return Opening(
            next_action=Redirect(url=gateway_url),
            provider_ref={"process_id": process_id},
            expected_subject_hmac=subject_digest(PROVIDER, body.user_id),
        )

    def check(self, record: SessionRecord) -> Identity | None:
        """The process first; once COMPLETED, the operation decides. None while either is under way."""
        mobbid = MobbidClient.configured()
        process = mobbid.process(record.provider_ref["process_id"])
        if process.status != "COMPLETED" or not process.operationId:
            return None
        operation = mobbid.operation(process.operationId)
        if operation.status in ("PENDING", "PROCESSING"):
            return None
        if operation.status == "ERROR":
            raise SessionOutcomeError(
                Code.BIOMETRIC_ERROR,
                # MobbID's own error text is free text that may name the person: never stored.
                "MobbID could not complete the face verification.",
                provider=PROVIDER,
            )
        if record.expected_subject_hmac != subject_digest(PROVIDER, operation.data.userId or ""):
            raise SessionOutcomeError(
                Code.IDENTITY_MISMATCH,
                "MobbID verified another user than the one asked for.",
                provider=PROVIDER,
            )
        if operation.data.result is not True:
            raise SessionOutcomeError(
                Code.BIOMETRIC_MISMATCH, "The face did not match the enrolled user.", provider=PROVIDER
            )
        return identity_of(operation)


METHOD = MobbidMethod()
