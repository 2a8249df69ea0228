"""Manual webhook calls per API key: `test` and `redeliver` together at most `limit` in
any `window` seconds.

One item per key holds the times of the calls of the last window and a version; a call writes it back
with one more time only if the version is still the one it read (a conditional write), so concurrent
calls can never together pass the limit: the losers read again. It is a sliding window (a fixed one
would let twice the limit through across a boundary). The item's key is a keyed digest of the API
key id: the table never holds the identifier.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.dynamo import is_condition_failure
from eid_broker.errors import InternalUnavailable, RateLimited
from eid_broker.keys import keyed_digest

WINDOW_SECONDS = 60
ROUNDS = 25  # optimistic rounds before a call under heavy contention gives up (and is refused)


class ManualLimit:
    def __init__(
        self,
        table: str,
        client: Any,
        *,
        limit: int,
        window: int = WINDOW_SECONDS,
        digest: Callable[..., str] = keyed_digest,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._client = client
        self._limit = limit
        self._window = window
        self._digest = digest
        self._clock = clock

    def __call__(self, owner: str) -> None:
        """Count one manual call of `owner`, or refuse it (RateLimited) and count nothing."""
        key = {"counter_key": {"S": "webhook-manual#" + self._digest("webhook-manual-limit", owner)}}
        for _ in range(ROUNDS):
            now = self._clock()
            item = self._read(key)
            version = int(item.get("version", {}).get("N", "0"))
            recent = sorted(
                t for t in map(float, item.get("calls", {}).get("NS", [])) if t > now - self._window
            )
            if len(recent) >= self._limit:
                retry = recent[len(recent) - self._limit] + self._window - now
                raise RateLimited(
                    f"At most {self._limit} test and redeliver calls per {self._window} s; try again later.",
                    retry_after=max(1, math.ceil(retry)),
                )
            if self._write(key, [*recent, now], version, now):
                return
            time.sleep((5 + secrets.randbelow(46)) / 1000)  # another call won this round; read again
        raise RateLimited("Too many concurrent test and redeliver calls; try again.", retry_after=1)

    def _read(self, key: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise InternalUnavailable("The webhook call limit could not be checked.") from exc
        return answer.get("Item") or {}

    def _write(self, key: dict[str, Any], calls: list[float], version: int, now: float) -> bool:
        # A number set cannot hold a value twice: two calls in the same microsecond stay two.
        unique = sorted({round(t, 6) for t in calls})
        while len(unique) < len(calls):
            unique.append(round(unique[-1] + 1e-6, 6))
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **key,
                    "calls": {"NS": [repr(t) for t in unique]},
                    "version": {"N": str(version + 1)},
                    "ttl": {"N": str(math.ceil(now + self._window) + 60)},
                },
                ConditionExpression="attribute_not_exists(counter_key) OR version = :seen",
                ExpressionAttributeValues={":seen": {"N": str(version)}},
            )
        except (ClientError, BotoCoreError) as exc:
            if is_condition_failure(exc):
                return False
            raise InternalUnavailable("The webhook call limit could not be checked.") from exc
        return True
