"""Reading a session, at once or as a long-poll; a read long past the deadline records the expiry."""

from __future__ import annotations

import time
from datetime import timedelta

from eid_broker.errors import SessionNotFound
from eid_broker.http import RESERVE_SECONDS, time_left
from eid_broker.sessions.core import SessionCore
from eid_broker.sessions.models import SESSION_ID, SessionRecord

LONG_POLL_STEP = 0.5  # seconds between the reads of a long-poll: an outcome is seen within this
# A pending session read this long after expires_at is recorded as expired (the contract promises 30 s).
EXPIRY_GRACE = timedelta(seconds=30)


class ReadSessions(SessionCore):
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
        strongly consistent reads every LONG_POLL_STEP seconds, never past the invocation's time. A read
        that waits holds one of its key's wait slots (TooManyWaits when none is free)."""
        if wait <= 0 or self._wait_slots is None:
            return self._read_waiting(session_id, owner, wait)
        with self._wait_slots.waiting(owner, wait):
            return self._read_waiting(session_id, owner, wait)

    def _read_waiting(self, session_id: str, owner: str, wait: float) -> SessionRecord:
        left = time_left()
        until = time.monotonic() + (wait if left is None else min(wait, left - RESERVE_SECONDS))
        record = self.read(session_id, owner)
        while record.status == "pending" and (pause := min(LONG_POLL_STEP, until - time.monotonic())) > 0:
            self._sleep(pause)
            record = self.read(session_id, owner)
        return record
