"""One page of an owner's deliveries (GET /v1/webhook-deliveries), newest first across the shards.

Deliveries are spread over DELIVERY_SHARDS partitions (`<owner>#<shard>`, `delivery#<delivery_id>`),
because each delivery writes three times and one partition takes 1,000 writes a second. Delivery ids
start with their creation time, so a reverse query of each shard lists them newest first, and a
page's position is the last delivery id it holds.
"""

from __future__ import annotations

from typing import Any

from eid_broker.dynamo import plain_item, serialize
from eid_broker.webhooks.models import Delivery

DELIVERY = "delivery#"
DELIVERY_SHARDS = 16
SESSION_READS = 5
# A delivery's own attributes, named in every read of one (ProjectionExpression): never an endpoint's.
DELIVERY_NAMES = {f"#{name}": name for name in Delivery.model_fields if name != "owner"}


def _partition(owner: str, delivery_id: str) -> str:
    """The partition of a delivery (or of a session's deliveries): from the id's last hex digit."""
    return f"{owner}#{int(delivery_id[-1], 16) % DELIVERY_SHARDS}"


def _delivery(owner: str, found: dict[str, Any] | None) -> Delivery | None:
    return Delivery.model_validate({**found, "owner": owner}) if found else None


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": serialize(value) for name, value in values.items()}


class Listing:
    def _call(self, operation: str, **request: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    def deliveries_page(
        self, owner: str, session_id: str | None, *, limit: int, after: str | None
    ) -> tuple[list[Delivery], str | None]:
        """Up to `limit` of the owner's deliveries older than `after` (of one session, if given), newest
        first, and where the next page starts (None: no more). Every query reads at most `limit` + 1
        items. A session's events are in one shard: their delivery ids end with the session id."""
        if session_id is not None:
            return self._session_page(owner, session_id, limit, after)
        found: list[Delivery] = []
        more = False
        for shard in range(DELIVERY_SHARDS):
            items, _, shard_more = self._query(owner, f"{owner}#{shard}", limit, after)
            found += items
            more = more or shard_more
        found.sort(key=lambda d: d.delivery_id, reverse=True)
        page = found[:limit]
        more = more or len(found) > limit
        return page, (page[-1].delivery_id if more and page else None)

    def _session_page(
        self, owner: str, session_id: str, limit: int, after: str | None
    ) -> tuple[list[Delivery], str | None]:
        """A filtered query counts the items it reads, not those it keeps: at most SESSION_READS
        queries, then the page ends where the reading stopped."""
        found: list[Delivery] = []
        position = after
        partition = _partition(owner, session_id)
        for _ in range(SESSION_READS):
            items, last, more = self._query(owner, partition, limit, position, session_id)
            found += items
            position = last or position
            if len(found) >= limit:
                return found[:limit], (found[limit - 1].delivery_id if more or len(found) > limit else None)
            if not more:
                return found, None
        return found, position

    def _query(
        self, owner: str, partition: str, limit: int, after: str | None, session_id: str | None = None
    ) -> tuple[list[Delivery], str | None, bool]:
        """One query of one shard, newest first: the deliveries, the last id read, whether more remain."""
        values: dict[str, Any] = {"partition": partition, "prefix": DELIVERY}
        if after is None:
            condition = "#owner = :partition AND begins_with(#item, :prefix)"
        else:  # BETWEEN is inclusive: `after` itself is read (one more item) and dropped
            condition = "#owner = :partition AND #item BETWEEN :prefix AND :after"
            values["after"] = DELIVERY + after
        request: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#owner": "owner", "#item": "item", **DELIVERY_NAMES},
            "ProjectionExpression": ", ".join(DELIVERY_NAMES),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit + 1,
        }
        if session_id is not None:
            request["FilterExpression"] = "session_id = :sid"
            values["sid"] = session_id
        request["ExpressionAttributeValues"] = _values(**values)
        answer = self._call("query", **request) or {}
        items = [d for item in answer.get("Items", []) if (d := _delivery(owner, plain_item(item)))]
        items = [d for d in items if d.delivery_id != after]
        last_key = answer.get("LastEvaluatedKey")
        last = plain_item(last_key)["item"].removeprefix(DELIVERY) if last_key else None
        if session_id is None:
            more = len(items) > limit or (last_key is not None and len(items) == limit)
            return items[:limit], last, more
        return items, last, last_key is not None
