"""One poll of a pending session, and the rules that end it: a provider's outcome, the deadline, or a
fault that outlasts the deadline. Transient faults are tried again at the next poll."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from eid_broker.errors import TRANSIENT, Code, SessionOutcomeError, code_for_task_error
from eid_broker.http import RESERVE_SECONDS, time_left
from eid_broker.observability import logger
from eid_broker.sessions.core import SessionCore, as_session_error, timeout_error
from eid_broker.sessions.models import Identity, SessionError, SessionRecord
from eid_broker.sessions.poll_answer import PollAnswer, final, pending, whole_seconds

if TYPE_CHECKING:
    from eid_broker.methods.base import Method

MAX_CADENCE_SLEEP = 1.05  # a Wait state rounds down by less than a second
# Polling goes on this long past the deadline while the provider keeps failing (Express workflows stop
# at 300 s; MAX_POLLED_SESSION_SECONDS + this stays inside).
FAULT_GRACE = timedelta(seconds=15)


class PollStep(SessionCore):
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
            expired = timeout_error(record.expiry_code or Code.TIMEOUT)
            return self._finish(session_id, "expired", error=as_session_error(expired))
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
