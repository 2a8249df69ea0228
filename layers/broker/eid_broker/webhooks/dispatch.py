"""The sessions table's change stream: one webhook event per session that became final.

The event is derived from the final write itself and recorded under an id derived from that write, so
a repeated stream record or internal step never makes a second one. Dispatch never reads a signing
secret: it reads only whether the owner's endpoint is enabled.
"""

from __future__ import annotations

from typing import Any

from eid_broker.sessions import FINAL_STATUSES, SessionRecord
from eid_broker.webhooks.base import WebhookPart, delivery_id
from eid_broker.webhooks.models import Attempt


def is_final_transition(event_name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """A stream record of a session becoming final (the template's FilterCriteria say the same)."""
    status = ((new or {}).get("status") or {}).get("S")
    if status not in FINAL_STATUSES:
        return False
    if event_name == "INSERT":
        return True
    return event_name == "MODIFY" and ((old or {}).get("status") or {}).get("S") == "pending"


class Dispatch(WebhookPart):
    def record_final(self, session: SessionRecord) -> str | None:
        """Record the session's one event if its owner has an enabled endpoint; its delivery id."""
        if not self._store.endpoint_enabled(session.owner):
            return None
        ended = session.updated_at_dt()
        delivery = self._new_delivery(
            session.owner,
            delivery_id(ended, session.session_id),
            f"session.{session.status}",
            session.session_id,
            ended,
        )
        if not self._store.create_delivery(delivery):
            recorded = self._store.delivery(session.owner, delivery.delivery_id)
            if recorded is None or recorded.attempts > 0:
                return delivery.delivery_id  # recorded and sent already
        # First record, or recorded before a queue failure: an extra message is taken only once.
        self._queue.send(Attempt(owner=session.owner, delivery_id=delivery.delivery_id, attempt=1))
        return delivery.delivery_id
