"""The per-key cap on long-poll reads waiting at once (LONG_POLL_MAX_PER_KEY).

One item per API key (a keyed digest of the key id, in the limits table) holds a map of leases, each
a random id and the time its wait ends at the latest, and their count. A read takes a lease with one
conditional update (`active < max`), so concurrent reads can never take more than the cap, and gives it
back when it answers. A lease outlives its wait by LEASE_MARGIN, so one whose function died frees itself:
a refused read first clears leases past their end (each by a conditional removal), then tries once more.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.dynamo import is_condition_failure
from eid_broker.errors import InternalUnavailable, TooManyWaits
from eid_broker.keys import keyed_digest
from eid_broker.observability import logger

LEASE_MARGIN = 5.0  # seconds a lease outlives the longest its wait can take


class WaitSlots:
    def __init__(
        self,
        table: str,
        client: Any,
        *,
        limit: int,
        digest: Callable[..., str] = keyed_digest,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._client = client
        self._limit = limit
        self._digest = digest
        self._clock = clock

    @contextmanager
    def waiting(self, owner: str, seconds: float) -> Iterator[None]:
        """Hold one of the key's slots while the body waits, or refuse with TooManyWaits."""
        key = self._digest("long-poll", owner)
        lease = uuid.uuid4().hex
        if not self._take(key, lease, seconds) and not (self._reap(key) and self._take(key, lease, seconds)):
            logger.info("long-poll refused: the key has every wait slot")
            raise TooManyWaits("Too many long-poll reads are waiting for this API key; retry in a second.")
        try:
            yield
        finally:
            self._give_back(key, lease)

    def _take(self, key: str, lease: str, seconds: float) -> bool:
        until = self._clock() + seconds + LEASE_MARGIN
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"counter_key": {"S": key}},
                UpdateExpression="SET leases.#lease = :until, #ttl = :ttl ADD active :one",
                ConditionExpression="attribute_not_exists(active) OR active < :limit",
                ExpressionAttributeNames={"#lease": lease, "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":until": {"N": repr(until)},
                    ":ttl": {"N": str(int(until) + 3600)},
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self._limit)},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            if is_condition_failure(exc):
                return False
            if _no_map_yet(exc):
                return self._create(key, lease, until)
            raise InternalUnavailable("The long-poll limit could not be checked.") from exc
        return True

    def _create(self, key: str, lease: str, until: float) -> bool:
        """The key's first lease: the item is created with its map (a racing creator makes this retry)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "counter_key": {"S": key},
                    "leases": {"M": {lease: {"N": repr(until)}}},
                    "active": {"N": "1"},
                    "ttl": {"N": str(int(until) + 3600)},
                },
                ConditionExpression="attribute_not_exists(counter_key)",
            )
        except (ClientError, BotoCoreError) as exc:
            if is_condition_failure(exc):
                return self._take(key, lease, until - self._clock() - LEASE_MARGIN)
            raise InternalUnavailable("The long-poll limit could not be checked.") from exc
        return True

    def _reap(self, key: str) -> bool:
        """Remove the leases whose wait has ended (their function died before giving them back);
        True if any was removed."""
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"counter_key": {"S": key}}, ConsistentRead=True
            ).get("Item", {})
        except (ClientError, BotoCoreError) as exc:
            raise InternalUnavailable("The long-poll limit could not be checked.") from exc
        now = self._clock()
        ended = {
            lease: value["N"]
            for lease, value in item.get("leases", {}).get("M", {}).items()
            if float(value["N"]) <= now
        }
        return sum(self._remove(key, lease, {":until": {"N": until}}) for lease, until in ended.items()) > 0

    def _give_back(self, key: str, lease: str) -> None:
        if not self._remove(key, lease, None):
            logger.warning("long-poll lease not given back; it ends by itself")

    def _remove(self, key: str, lease: str, expected: dict[str, Any] | None) -> bool:
        """Remove one lease, and count it out, only if it is still there (as `expected`, when given)."""
        condition = "leases.#lease = :until" if expected else "attribute_exists(leases.#lease)"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"counter_key": {"S": key}},
                UpdateExpression="REMOVE leases.#lease ADD active :minus",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#lease": lease},
                ExpressionAttributeValues={":minus": {"N": "-1"}, **(expected or {})},
            )
        except (ClientError, BotoCoreError) as exc:
            if not is_condition_failure(exc):
                logger.warning("long-poll lease not removed", extra={"reason": type(exc).__name__})
            return False
        return True


def _no_map_yet(exc: Exception) -> bool:
    """DynamoDB refuses `SET leases.#id` while the item has no `leases` map (its first lease)."""
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "document path" in str(error.get("Message", ""))
