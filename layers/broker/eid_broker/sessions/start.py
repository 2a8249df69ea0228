"""Starting a session: ask the provider through the method, store what it said, start its poll loop."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.errors import BrokerError, InternalUnavailable, SessionOutcomeError, StartUncertain
from eid_broker.observability import Metric, count, logger, report_refusal
from eid_broker.sessions.core import SessionCore, as_session_error, count_final, new_session_id
from eid_broker.sessions.models import Credentials, SessionRecord, iso
from eid_broker.sessions.poll_answer import execution_input
from eid_broker.throttle import guard_person

if TYPE_CHECKING:
    from eid_broker.methods.base import Method


class StartSessions(SessionCore):
    def start(self, method: Method, body: Any, owner: str) -> tuple[SessionRecord, Credentials | None]:
        """Ask the provider through `method` and record what it said. A refusal is a session too (final
        from birth: every attempt is on record); a pending one is polled unless the integrator's next
        call settles it; credentials of a start that completed at once are handed over only once."""
        if method.throttle_family:
            guard_person(method.throttle_family, method.person(body), method.person_shares)
        guard = method.attempt_guard(body, owner)
        session_id = new_session_id()
        try:
            opening = method.begin(body, session_id)
        except SessionOutcomeError as refusal:
            guard.settle(refusal.code)
            report_refusal(refusal)
            error = as_session_error(refusal)
            record = self._new_record(session_id, method, body, owner, status=refusal.status, error=error)
            self._store(record)
            return record, None
        except BaseException:
            guard.settle(None)
            raise
        guard.settle(None)
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
            abandon_on_cancel=method.abandons_on_cancel,
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
        payload = execution_input(record.session_id, self._poll_function, wait)
        self._sfn.start_execution(stateMachineArn=self._state_machine, name=name, input=json.dumps(payload))

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
