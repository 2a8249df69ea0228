"""What every session use case shares: the service's state, the one pending → final write, and lookups."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eid_broker.errors import Code, SessionOutcomeError
from eid_broker.observability import Metric, MetricUnit, emit
from eid_broker.sessions.models import SESSION_ID, Identity, SessionError, SessionRecord, utcnow
from eid_broker.sessions.repository import SessionRepository
from eid_broker.wait_slots import WaitSlots


def new_session_id() -> str:
    return str(uuid.uuid4())


def timeout_error(code: str = Code.TIMEOUT) -> SessionOutcomeError:
    message = "The person did not finish before the session expired."
    return SessionOutcomeError(Code(code), message, provider=None, status="expired")


def as_session_error(outcome: SessionOutcomeError) -> SessionError:
    return SessionError(
        code=outcome.code,
        message=outcome.message,
        provider=outcome.provider,
        provider_code=outcome.provider_code,
    )


class SessionCore:
    def __init__(
        self,
        repo: SessionRepository,
        stepfunctions: Any,
        state_machine_arn: str | None,
        clock: Callable[[], datetime] = utcnow,
        *,
        poll_function: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wait_slots: WaitSlots | None = None,
    ) -> None:
        self.repo = repo
        self._sfn = stepfunctions
        self._state_machine = state_machine_arn
        self._clock = clock
        self._poll_function = poll_function or ""
        self._sleep = sleep
        self._wait_slots = wait_slots  # None: long-poll reads are not capped per key

    def complete(self, session_id: str, identity: Identity) -> SessionRecord | None:
        return self._final_write(session_id, "completed", identity=identity)

    def fail_with(self, session_id: str, outcome: SessionOutcomeError) -> SessionRecord | None:
        return self._final_write(session_id, outcome.status, error=as_session_error(outcome))

    def expire(self, record: SessionRecord) -> SessionRecord | None:
        error = timeout_error(record.expiry_code or Code.TIMEOUT)
        return self._final_write(record.session_id, "expired", error=as_session_error(error))

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
        """(owner, method) of each of these sessions that exists and is not erased."""
        return self.repo.owners(session_ids)


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
