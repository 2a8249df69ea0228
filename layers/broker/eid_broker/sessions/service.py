"""Session life cycle shared by every method: open (store + start polling), read, cancel, poll step."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker import aws
from eid_broker.config import get_settings
from eid_broker.errors import (
    TRANSIENT,
    ActionNotAllowed,
    InternalUnavailable,
    SessionNotFound,
    SessionOutcomeError,
    StartUncertain,
    code_for_task_error,
)
from eid_broker.keys import keyed_digest
from eid_broker.observability import logger
from eid_broker.sessions.models import Identity, NextAction, SessionError, SessionRecord, iso, utcnow
from eid_broker.sessions.repository import SessionRepository

SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A pending session read this long after expires_at is recorded as expired (API.md).
EXPIRY_GRACE = timedelta(seconds=30)
# Polling goes on this long past the deadline while the provider keeps failing (Express workflows stop
# at 300 s; MAX_POLLED_SESSION_SECONDS + this stays inside).
FAULT_GRACE = timedelta(seconds=15)


@dataclass(frozen=True)
class PollPlan:
    poll_function_arn: str
    interval_seconds: float
    timeout_seconds: float


def new_session_id() -> str:
    return str(uuid.uuid4())


def whole_seconds(seconds: float) -> int:
    """Wait states take whole seconds."""
    return max(1, round(seconds))


def subject_digest(country: str, code: str) -> str:
    """Keyed: the expected person is checked later without storing a guessable digest of them."""
    return keyed_digest("subject", country, code)


def timeout_error(provider: str | None = None, code: str = "TIMEOUT") -> SessionOutcomeError:
    return SessionOutcomeError(
        code,
        "The person did not finish before the session expired.",
        provider=provider,
        status="expired",
    )


def as_session_error(outcome: SessionOutcomeError) -> SessionError:
    return SessionError(
        code=outcome.code,
        message=outcome.message,
        provider=outcome.provider,
        provider_code=outcome.provider_code,
    )


class SessionService:
    def __init__(
        self,
        repo: SessionRepository,
        stepfunctions: Any,
        state_machine_arn: str | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self._sfn = stepfunctions
        self._state_machine = state_machine_arn
        self._clock = clock

    def _new_record(
        self,
        *,
        method: str,
        owner: str,
        reference: str | None,
        lifetime: float,
        session_id: str | None = None,
        expires: datetime | None = None,
        **fields: Any,
    ) -> SessionRecord:
        now = self._clock()
        expires = expires or now + timedelta(seconds=lifetime)
        return SessionRecord(
            session_id=session_id or new_session_id(),
            method=method,
            owner=owner,
            reference=reference,
            created_at=iso(now),
            updated_at=iso(now),
            expires_at=iso(expires),
            ttl=self.repo.ttl_for(expires),
            **fields,
        )

    def open_polled(
        self,
        *,
        method: str,
        owner: str,
        reference: str | None,
        next_action: NextAction,
        provider_ref: dict[str, str],
        plan: PollPlan,
        expected_subject_hmac: str | None = None,
        session_id: str | None = None,
        expires: datetime | None = None,
    ) -> SessionRecord:
        """Store a pending session and start its poll execution; undo the store if polling cannot start.

        `expires` pins the deadline to a provider's own (an eeID link's expiry) instead of the plan's.
        """
        record = self._new_record(
            session_id=session_id,
            expires=expires,
            method=method,
            owner=owner,
            reference=reference,
            lifetime=plan.timeout_seconds,
            status="pending",
            next_action=next_action,
            provider_ref=provider_ref,
            expected_subject_hmac=expected_subject_hmac,
        )
        self._store(record)
        try:
            self._start_polling(record, plan.poll_function_arn, plan.interval_seconds, name=record.session_id)
        except (ClientError, BotoCoreError) as exc:
            logger.error("poll execution could not start", extra={"session_id": record.session_id})
            self.repo.delete_pending(record.session_id)
            raise InternalUnavailable(
                "The provider was asked, but polling could not start: the session was not kept."
            ) from exc
        return record

    def _start_polling(self, record: SessionRecord, poll_function: str, wait: float, *, name: str) -> None:
        execution_input = {
            "session_id": record.session_id,
            "method": record.method,
            "poll_function": poll_function,
            "deadline": record.expires_at,
            "poll": {"final": False, "status": "pending", "wait_seconds": whole_seconds(wait)},
        }
        self._sfn.start_execution(
            stateMachineArn=self._state_machine, name=name, input=json.dumps(execution_input)
        )

    def poll_soon(self, record: SessionRecord, poll_function: str, wait: float) -> None:
        """One extra poll loop for a session whose webhook could not be processed, so it completes
        within `wait` seconds even if the provider sends no more deliveries; once per session (the
        execution name is fixed, and Standard workflow names are unique)."""
        try:
            self._start_polling(record, poll_function, wait, name=f"{record.session_id}-webhook")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                logger.warning("extra poll not started", extra={"reason": type(exc).__name__})
        except BotoCoreError as exc:
            logger.warning("extra poll not started", extra={"reason": type(exc).__name__})

    def settle_once(
        self,
        record: SessionRecord,
        check: Callable[[SessionRecord], Identity | None],
        *,
        claim_seconds: float,
    ) -> bool:
        """Settle through `check` unless another delivery holds the session (False: a duplicate).

        The claim lasts no longer than the caller may live, and is released when nothing final was
        learnt or the check failed, so the provider's next delivery can try.
        """
        if record.is_final or not self.repo.claim(record.session_id, time.time(), claim_seconds):
            return False
        try:
            answer = self.settle(record, check)
        except BaseException:
            self.repo.release(record.session_id)
            raise
        if answer is None:
            self.repo.release(record.session_id)
        return True

    def _store(self, record: SessionRecord) -> None:
        """Store a session the provider has been asked for; failing that, say so truthfully."""
        try:
            self.repo.create(record)
        except InternalUnavailable as exc:
            raise StartUncertain(
                "The provider was asked, but the broker could not record the session. With an "
                "Idempotency-Key, retrying with the same key returns it if it was recorded.",
                session_id=record.session_id,
            ) from exc

    def record_refusal(
        self,
        *,
        method: str,
        owner: str,
        reference: str | None,
        refusal: SessionOutcomeError,
        lifetime: float,
        session_id: str | None = None,
    ) -> SessionRecord:
        """A provider refusal at start is still a session, final from birth: every attempt is on record."""
        record = self._new_record(
            session_id=session_id,
            method=method,
            owner=owner,
            reference=reference,
            lifetime=lifetime,
            status=refusal.status,
            error=as_session_error(refusal),
        )
        self._store(record)
        return record

    def open_waiting(
        self,
        *,
        method: str,
        owner: str,
        reference: str | None,
        next_action: NextAction,
        provider_ref: dict[str, str],
        lifetime: float,
        expiry_code: str,
    ) -> SessionRecord:
        """A pending session that the integrator's next call settles (no polling)."""
        record = self._new_record(
            method=method,
            owner=owner,
            reference=reference,
            lifetime=lifetime,
            status="pending",
            next_action=next_action,
            provider_ref=provider_ref,
            expiry_code=expiry_code,
        )
        self._store(record)
        return record

    def record_completed(
        self, *, method: str, owner: str, reference: str | None, identity: Identity
    ) -> SessionRecord:
        """A session that completed in the call that started it."""
        record = self._new_record(
            method=method, owner=owner, reference=reference, lifetime=0, status="completed", identity=identity
        )
        self._store(record)
        return record

    def complete(self, session_id: str, identity: Identity) -> SessionRecord | None:
        return self.repo.finish(session_id, "completed", self._clock(), identity=identity)

    def fail_with(self, session_id: str, outcome: SessionOutcomeError) -> SessionRecord | None:
        return self.repo.finish(session_id, outcome.status, self._clock(), error=as_session_error(outcome))

    def read(self, session_id: str, owner: str) -> SessionRecord:
        if not SESSION_ID.fullmatch(session_id):
            raise SessionNotFound("No session with this id.")
        record = self.repo.get(session_id)
        if record is None or record.owner != owner:
            raise SessionNotFound("No session with this id.")
        if record.status == "pending" and self._clock() > record.expires_at_dt() + EXPIRY_GRACE:
            # The write answers with the new record; if another outcome won meanwhile, read that one.
            record = self.expire(record) or self.repo.get(session_id) or record
        return record

    def expire(self, record: SessionRecord) -> SessionRecord | None:
        error = timeout_error(code=record.expiry_code or "TIMEOUT")
        return self.repo.finish(record.session_id, "expired", self._clock(), error=as_session_error(error))

    def cancel(self, session_id: str, owner: str) -> SessionRecord:
        record = self.read(session_id, owner)
        if record.status == "pending":
            finished = self.repo.finish(session_id, "cancelled", self._clock())
            record = finished or self.read(session_id, owner)
        if record.status != "cancelled":
            raise ActionNotAllowed(f"A {record.status} session cannot be cancelled.")
        return record

    def poll_step(
        self,
        session_id: str,
        check: Callable[[SessionRecord], Identity | None],
        wait: Callable[[SessionRecord], float],
        abandon: Callable[[SessionRecord], None] | None = None,
    ) -> dict[str, Any]:
        """One poll: ask the provider, record a final outcome. `final` tells the state machine to stop.

        A transient fault (provider down, throttling, one garbled answer, AWS hiccup) is tried again at
        the next poll; only the deadline, a definite provider outcome, or a fault that outlasts the
        deadline by FAULT_GRACE ends the session. A session cancelled since the last poll is abandoned
        at the provider here, so the cancel route itself needs no provider access.
        """
        record = self.repo.get(session_id)
        if record is None or record.is_final:
            if record is not None and record.status == "cancelled" and record.provider_ref and abandon:
                self._abandon(record, abandon)
            return {"final": True, "status": record.status if record else "missing", "wait_seconds": 0}
        deadline = record.expires_at_dt()
        try:
            answer = self.settle(record, check)
        except TRANSIENT as fault:
            logger.warning("poll fault, trying again at the next poll", extra={"fault": type(fault).__name__})
            return self.after_fault(record, type(fault).__name__, whole_seconds(wait(record)))
        if answer is not None:
            return answer
        if self._clock() >= deadline:
            return self._finish(session_id, "expired", error=as_session_error(timeout_error()))
        return {"final": False, "status": "pending", "wait_seconds": whole_seconds(wait(record))}

    def after_fault(self, record: SessionRecord, fault: str, wait_seconds: int) -> dict[str, Any]:
        """Poll again after a fault, unless it has lasted past the deadline (by five polls, at most
        FAULT_GRACE): then the session fails."""
        grace = min(FAULT_GRACE, timedelta(seconds=5 * max(1, wait_seconds)))
        if self._clock() < record.expires_at_dt() + grace:
            return {"final": False, "status": "pending", "wait_seconds": max(1, wait_seconds)}
        code, message = code_for_task_error(fault)
        return self._finish(record.session_id, "failed", error=SessionError(code=code, message=message))

    def settle(
        self, record: SessionRecord, check: Callable[[SessionRecord], Identity | None]
    ) -> dict[str, Any] | None:
        """Ask the provider through `check` and record a final outcome; None while still pending."""
        try:
            identity = check(record)
        except SessionOutcomeError as outcome:
            return self._finish(record.session_id, outcome.status, error=as_session_error(outcome))
        if identity is not None:
            return self._finish(record.session_id, "completed", identity=identity)
        return None

    def _abandon(self, record: SessionRecord, abandon: Callable[[SessionRecord], None]) -> None:
        try:
            abandon(record)
        except Exception as exc:  # noqa: BLE001 - best effort: the provider session expires on its own anyway
            logger.warning("provider session not abandoned", extra={"reason": type(exc).__name__})
        self.repo.forget_provider_ref(record.session_id)

    def polling_failed(self, session_id: str, fault: str, wait_seconds: int) -> dict[str, Any]:
        """What the state machine's catch-all records: nothing yet, unless the deadline has passed."""
        record = self.repo.get(session_id)
        if record is None or record.is_final:
            return {"final": True, "status": record.status if record else "missing", "wait_seconds": 0}
        return self.after_fault(record, fault, wait_seconds)

    def _finish(self, session_id: str, status: str, **outcome: Any) -> dict[str, Any]:
        finished = self.repo.finish(session_id, status, self._clock(), **outcome)  # type: ignore[arg-type]
        if finished is None:
            current = self.repo.get(session_id)
            return {"final": True, "status": current.status if current else "missing", "wait_seconds": 0}
        logger.info("session finished", extra={"session_id": session_id, "status": status})
        return {"final": True, "status": status, "wait_seconds": 0}


@lru_cache(maxsize=1)
def default_service() -> SessionService:
    settings = get_settings()
    repo = SessionRepository(settings.sessions_table, aws.client("dynamodb"), settings.session_retention_days)
    return SessionService(repo, aws.client("stepfunctions"), settings.session_poll_state_machine_arn)
