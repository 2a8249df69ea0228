"""Session life cycle shared by every method: open (store + start polling), read, cancel, poll step."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker import aws, polling
from eid_broker.config import Settings, get_settings
from eid_broker.errors import (
    TRANSIENT,
    ActionNotAllowed,
    BrokerError,
    Code,
    InternalUnavailable,
    SessionNotFound,
    SessionOutcomeError,
    StartUncertain,
    code_for_task_error,
)
from eid_broker.http import RESERVE_SECONDS, time_left
from eid_broker.observability import Metric, MetricUnit, count, emit, logger, report_refusal
from eid_broker.polling import PollAnswer, final, pending, whole_seconds
from eid_broker.sessions.models import (
    Credentials,
    Identity,
    SessionError,
    SessionRecord,
    iso,
    utcnow,
)
from eid_broker.sessions.repository import ERASURE_SHARDS, SessionRepository
from eid_broker.throttle import guard_person

if TYPE_CHECKING:
    from eid_broker.methods.base import Method

SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_CADENCE_SLEEP = 1.05  # a Wait state rounds down by less than a second
LONG_POLL_STEP = 0.5  # seconds between the reads of a long-poll: an outcome is seen within this
# A pending session read this long after expires_at is recorded as expired (the contract's promise).
EXPIRY_GRACE = timedelta(seconds=30)
# Polling goes on this long past the deadline while the provider keeps failing (Express workflows stop
# at 300 s; MAX_POLLED_SESSION_SECONDS + this stays inside).
FAULT_GRACE = timedelta(seconds=15)


def new_session_id() -> str:
    return str(uuid.uuid4())


def timeout_error(code: str = Code.TIMEOUT) -> SessionOutcomeError:
    message = "The person did not finish before the session expired."
    return SessionOutcomeError(code, message, provider=None, status="expired")


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
        *,
        poll_function: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repo = repo
        self._sfn = stepfunctions
        self._state_machine = state_machine_arn
        self._clock = clock
        self._poll_function = poll_function or ""
        self._sleep = sleep

    def start(self, method: Method, body: Any, owner: str) -> tuple[SessionRecord, Credentials | None]:
        """Ask the provider through `method` and record what it said. A refusal is a session too (final
        from birth: every attempt is on record); a pending one is polled unless the integrator's next
        call settles it; credentials of a start that completed at once are handed over only once."""
        if method.throttle_family:
            guard_person(method.throttle_family, **method.person(body))
        session_id = new_session_id()
        try:
            opening = method.begin(body, session_id)
        except SessionOutcomeError as refusal:
            report_refusal(refusal)
            error = as_session_error(refusal)
            record = self._new_record(session_id, method, body, owner, status=refusal.status, error=error)
            self._store(record)
            return record, None
        if opening.identity is not None:
            record = self._new_record(
                session_id, method, body, owner, status="completed", identity=opening.identity
            )
            try:
                self._store(record)
            except BrokerError:
                if opening.undo is not None:
                    opening.undo()  # not recorded, so not handed over: it must not stay valid
                raise
            return record, opening.credentials
        record = self._new_record(
            session_id,
            method,
            body,
            owner,
            expires=opening.expires,
            status="pending",
            next_action=opening.next_action,
            provider_ref=opening.provider_ref,
            expected_subject_hmac=opening.expected_subject_hmac,
            expiry_code=method.expiry_code,
        )
        self._store(record)
        if method.interval_seconds is not None:
            self._begin_polling(record, method.first_wait())
        return record, None

    def _new_record(
        self,
        session_id: str,
        method: Method,
        body: Any,
        owner: str,
        *,
        expires: datetime | None = None,
        **fields: Any,
    ) -> SessionRecord:
        """`expires` pins the deadline to a provider's own (an eeID link's expiry) instead of the method's."""
        now = self._clock()
        expires = expires or now + timedelta(
            seconds=method.lifetime() if fields["status"] != "completed" else 0
        )
        return SessionRecord(
            session_id=session_id,
            method=method.name,
            owner=owner,
            reference=body.reference,
            created_at=iso(now),
            updated_at=iso(now),
            expires_at=iso(expires),
            ttl=self.repo.ttl_for(expires),
            **fields,
        )

    def _begin_polling(self, record: SessionRecord, first_wait: float) -> None:
        """Start the session's poll execution; without one the session is not kept."""
        try:
            self._start_polling(record, first_wait, name=record.session_id)
        except (ClientError, BotoCoreError) as exc:
            logger.error("poll execution could not start", extra={"session_id": record.session_id})
            self.repo.delete_pending(record.session_id)
            raise InternalUnavailable(
                "The provider was asked, but polling could not start: the session was not kept."
            ) from exc

    def _start_polling(self, record: SessionRecord, wait: float, *, name: str) -> None:
        execution_input = polling.execution_input(record.session_id, self._poll_function, wait)
        self._sfn.start_execution(
            stateMachineArn=self._state_machine, name=name, input=json.dumps(execution_input)
        )

    def poll_soon(self, record: SessionRecord, wait: float) -> None:
        """One extra poll loop for a session whose webhook could not be processed, so it completes
        within `wait` seconds even if the provider sends no more deliveries; once per session (the
        execution name is fixed, and Standard workflow names are unique)."""
        try:
            self._start_polling(record, wait, name=f"{record.session_id}-webhook")
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
        count(Metric.SESSIONS_STARTED, method=record.method)
        if record.is_final:
            count_final(record)

    def complete(self, session_id: str, identity: Identity) -> SessionRecord | None:
        return self._final_write(session_id, "completed", identity=identity)

    def fail_with(self, session_id: str, outcome: SessionOutcomeError) -> SessionRecord | None:
        return self._final_write(session_id, outcome.status, error=as_session_error(outcome))

    def _final_write(self, session_id: str, status: str, **outcome: Any) -> SessionRecord | None:
        """The one pending → final write (None if another outcome won): counted once per session."""
        finished = self.repo.finish(session_id, status, self._clock(), **outcome)  # type: ignore[arg-type]
        if finished is not None:
            count_final(finished)
        return finished

    def find(self, session_id: str) -> SessionRecord | None:
        """Any caller's session by id (for a provider's webhook); None for a malformed or unknown id."""
        return self.repo.get(session_id) if SESSION_ID.fullmatch(session_id) else None

    def owners(self, session_ids: list[str]) -> dict[str, tuple[str, str]]:
        """(owner, method) of each of these sessions that exists."""
        return self.repo.owners(session_ids)

    def take_attempt(self, session_id: str) -> SessionRecord | None:
        """Reserve an OTP attempt before the provider is asked: the session as it now stands, or None."""
        return self.repo.take_attempt(session_id)

    def give_back_attempt(self, session_id: str) -> None:
        """An attempt the provider never judged (it could not be reached, or refused to answer)."""
        self.repo.give_back_attempt(session_id)

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

    def read_waiting(self, session_id: str, owner: str, wait: float) -> SessionRecord:
        """The session once it is final, or after `wait` seconds still pending (a long-poll read):
        strongly consistent reads every LONG_POLL_STEP seconds, never past the invocation's time."""
        left = time_left()
        until = time.monotonic() + (wait if left is None else min(wait, left - RESERVE_SECONDS))
        record = self.read(session_id, owner)
        while record.status == "pending" and (pause := min(LONG_POLL_STEP, until - time.monotonic())) > 0:
            self._sleep(pause)
            record = self.read(session_id, owner)
        return record

    def expire(self, record: SessionRecord) -> SessionRecord | None:
        error = timeout_error(record.expiry_code or Code.TIMEOUT)
        return self._final_write(record.session_id, "expired", error=as_session_error(error))

    def cancel(self, session_id: str, owner: str) -> SessionRecord:
        record = self.read(session_id, owner)
        if record.status == "pending":
            finished = self._final_write(session_id, "cancelled")
            record = finished or self.read(session_id, owner)
        if record.status != "cancelled":
            raise ActionNotAllowed(f"A {record.status} session cannot be cancelled.")
        return record

    def erase(self, session_id: str, owner: str) -> SessionRecord:
        """Erase a final session's personal data (identity, certificate, evidence, provider references);
        status, method, reference and timestamps stay. Erasing again answers the same."""
        record = self.read(session_id, owner)
        if record.status == "pending":
            raise ActionNotAllowed("A pending session cannot be erased: cancel it first.")
        erased = self.repo.erase(session_id, self._clock()) or self.read(session_id, owner)
        # The audit line: who erased what and when, no personal data.
        logger.info(
            "session erased", extra={"session_id": session_id, "owner": owner, "erased_at": erased.erased_at}
        )
        count(Metric.SESSIONS_ERASED, trigger="request")
        return erased

    def erase_due(self, *, budget_seconds: float) -> int:
        """Erase the personal data of every final session past its retention (PERSONAL_DATA_RETENTION_DAYS
        after it ended), shard by shard, until done or the time budget is spent (the next run goes on).
        How many were erased."""
        now, until, erased, done = self._clock(), time.monotonic() + budget_seconds, 0, True
        due = (
            sid for shard in map(str, range(ERASURE_SHARDS)) for sid in self.repo.due_for_erasure(shard, now)
        )
        for session_id in due:
            if time.monotonic() > until:
                done = False  # the next run goes on
                break
            erased += self.repo.erase(session_id, now) is not None
        if erased:
            emit({Metric.SESSIONS_ERASED: (erased, MetricUnit.Count)}, trigger="retention")
        extra = {"erased": erased, "complete": done, "retention_days": self.repo.personal_data_days}
        logger.info("retention run", extra=extra)
        return erased

    def poll_step(self, session_id: str, method: Method) -> PollAnswer:
        """One poll: ask the provider, record a final outcome. `final` tells the state machine to stop.

        A transient fault (provider down, throttling, one garbled answer, AWS hiccup) is tried again at
        the next poll; only the deadline, a definite provider outcome, or a fault that outlasts the
        deadline by FAULT_GRACE ends the session. A session cancelled since the last poll is abandoned
        at the provider here, so the cancel route itself needs no provider access.
        """
        record = self.repo.get(session_id)
        if record is None or record.is_final:
            if record is not None and record.status == "cancelled" and record.provider_ref:
                self._abandon(record, method.abandon)
            return final(record.status if record else "missing")
        self._keep_cadence(method.due_in(record, self._clock()))
        deadline = record.expires_at_dt()
        try:
            answer = self.settle(record, method.check)
        except TRANSIENT as fault:
            logger.warning("poll fault, trying again at the next poll", extra={"fault": type(fault).__name__})
            return self.after_fault(
                record, type(fault).__name__, whole_seconds(method.wait(record, self._clock()))
            )
        if answer is not None:
            return answer
        if self._clock() >= deadline:
            return self._finish(session_id, "expired", error=as_session_error(timeout_error()))
        return pending(method.wait(record, self._clock()))

    def _keep_cadence(self, early: float) -> None:
        """A poll that arrives early for its grid point waits for it (at most a second, never past the
        invocation's time), so the provider is asked at its own interval."""
        left = time_left()
        if 0 < early <= MAX_CADENCE_SLEEP and (left is None or left - RESERVE_SECONDS > 2 * early):
            self._sleep(early)

    def after_fault(self, record: SessionRecord, fault: str, wait_seconds: int) -> PollAnswer:
        """Poll again after a fault, unless it has lasted past the deadline (by five polls, at most
        FAULT_GRACE): then the session fails."""
        grace = min(FAULT_GRACE, timedelta(seconds=5 * max(1, wait_seconds)))
        if self._clock() < record.expires_at_dt() + grace:
            return pending(wait_seconds)
        code, message = code_for_task_error(fault)
        return self._finish(record.session_id, "failed", error=SessionError(code=code, message=message))

    def settle(
        self, record: SessionRecord, check: Callable[[SessionRecord], Identity | None]
    ) -> PollAnswer | None:
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

    def polling_failed(self, session_id: str, fault: str, wait_seconds: int) -> PollAnswer:
        """What the state machine's catch-all records: nothing yet, unless the deadline has passed."""
        record = self.repo.get(session_id)
        if record is None or record.is_final:
            return final(record.status if record else "missing")
        return self.after_fault(record, fault, wait_seconds)

    def _finish(self, session_id: str, status: str, **outcome: Any) -> PollAnswer:
        finished = self._final_write(session_id, status, **outcome)
        if finished is None:
            current = self.repo.get(session_id)
            return final(current.status if current else "missing")
        logger.info("session finished", extra={"session_id": session_id, "status": status})
        return final(status)


_FINAL_METRICS = {
    "completed": Metric.SESSIONS_COMPLETED,
    "failed": Metric.SESSIONS_FAILED,
    "expired": Metric.SESSIONS_EXPIRED,
    "cancelled": Metric.SESSIONS_CANCELLED,
}


def count_final(record: SessionRecord) -> None:
    seconds = (record.updated_at_dt() - record.created_at_dt()).total_seconds()
    emit(
        {
            _FINAL_METRICS[record.status]: (1, MetricUnit.Count),
            Metric.SESSION_SECONDS: (max(0.0, seconds), MetricUnit.Seconds),
        },
        method=record.method,
        code=record.error.code if record.error else "",
    )


def default_service() -> SessionService:
    """This function's service, built once per settings (tests host several functions in one process)."""
    return service_for(get_settings())


@lru_cache(maxsize=32)
def service_for(settings: Settings) -> SessionService:
    repo = SessionRepository(
        settings.sessions_table,
        aws.client("dynamodb"),
        settings.session_retention_days,
        settings.personal_data_retention_days,
    )
    return SessionService(
        repo,
        aws.LazyClient("stepfunctions"),
        settings.session_poll_state_machine_arn,
        poll_function=settings.poll_function_arn,
    )
