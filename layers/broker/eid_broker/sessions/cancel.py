"""Cancelling a pending session (the provider is told at the next poll, by the poll step)."""

from __future__ import annotations

from eid_broker.errors import ActionNotAllowed
from eid_broker.sessions.models import SessionRecord
from eid_broker.sessions.reading import ReadSessions


class CancelSessions(ReadSessions):
    def cancel(self, session_id: str, owner: str) -> SessionRecord:
        record = self.read(session_id, owner)
        if record.status == "pending":
            # A method that tells the provider keeps its handle until its next poll has (then drops it).
            finished = self._final_write(session_id, "cancelled", keep_provider_ref=record.abandon_on_cancel)
            record = finished or self.read(session_id, owner)
        if record.status != "cancelled":
            raise ActionNotAllowed(f"A {record.status} session cannot be cancelled.")
        return record
