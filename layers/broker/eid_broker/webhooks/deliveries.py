"""The delivery routes: GET /v1/webhook-deliveries (one page) and POST .../{delivery_id}/redeliver.

A page's `next_cursor` names the last delivery it holds, with a MAC keyed by the deployment's key
over the caller, the filter and that id: another API key's cursor, or an edited one, is refused
(`422` naming `cursor`) and reads nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from eid_broker.errors import ActionNotAllowed, DeliveryNotFound, InvalidInput
from eid_broker.keys import keyed_digest
from eid_broker.sessions.models import iso
from eid_broker.webhooks.base import DELIVERY_ID, WebhookPart
from eid_broker.webhooks.models import Attempt, DeliveryList, DeliveryQueued

DEFAULT_PAGE, MAX_PAGE = 50, 100
MAC_CHARS = 32  # 128 bits of the HMAC


def _bad_cursor() -> InvalidInput:
    message = "Not a cursor this API key was given for this listing."
    return InvalidInput(f"Invalid input: cursor. {message}", errors=[{"field": "cursor", "message": message}])


class Deliveries(WebhookPart):
    def _mac(self, owner: str, session_id: str | None, last: str) -> str:
        digest = self._cursor_key or keyed_digest
        return digest("webhook-deliveries-cursor", owner, session_id or "", last)[:MAC_CHARS]

    def _cursor(self, owner: str, session_id: str | None, last: str) -> str:
        text = f"{last}.{self._mac(owner, session_id, last)}"
        return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")

    def _after(self, owner: str, session_id: str | None, cursor: str) -> str:
        """The delivery id a cursor of this caller and filter names."""
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, ValueError):
            raise _bad_cursor() from None
        last, _, mac = text.partition(".")
        if not DELIVERY_ID.fullmatch(last) or not hmac.compare_digest(
            mac.encode("ascii"), self._mac(owner, session_id, last).encode("ascii")
        ):
            raise _bad_cursor()
        return last

    def deliveries(
        self, owner: str, session_id: str | None, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> DeliveryList:
        after = self._after(owner, session_id, cursor) if cursor else None
        page, more = self._store.deliveries_page(owner, session_id, limit=limit, after=after)
        next_cursor = self._cursor(owner, session_id, page[-1].delivery_id) if more and page else None
        return DeliveryList(items=[d.to_out() for d in page], next_cursor=next_cursor)

    def redeliver(self, owner: str, delivery_id: str) -> DeliveryQueued:
        if not DELIVERY_ID.fullmatch(delivery_id):  # a malformed id is simply not found
            raise DeliveryNotFound("No such delivery.")
        delivery = self._store.delivery(owner, delivery_id)
        if delivery is None:
            raise DeliveryNotFound("No such delivery.")
        self._manual_limit(owner)  # before anything is queued; an unknown id uses no slot
        now = self._clock()
        if not self._store.queue_again(owner, delivery_id, delivery.attempts, now.timestamp(), iso(now)):
            raise ActionNotAllowed("An attempt of this delivery is in progress; try again in a minute.")
        self._queue.send(Attempt(owner=owner, delivery_id=delivery_id, attempt=delivery.attempts + 1))
        return DeliveryQueued(delivery_id=delivery_id)
