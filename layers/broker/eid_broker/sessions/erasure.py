"""Erasure of a final session's personal data: on request, and by retention (the hourly run)."""

from __future__ import annotations

import time

from eid_broker.errors import ActionNotAllowed
from eid_broker.observability import Metric, MetricUnit, count, emit, logger
from eid_broker.sessions.models import SessionRecord
from eid_broker.sessions.reading import ReadSessions
from eid_broker.sessions.repository import ERASURE_SHARDS


class EraseSessions(ReadSessions):
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
