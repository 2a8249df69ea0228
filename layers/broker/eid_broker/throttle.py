"""Person-level start limits: push and SMS bombing protection across all API keys.

Each identifier of a person (a phone, a personal code, a MOSIP user id, normalised by
eid_broker.identifiers) owns `limit` slots per method family (times its share: a Mobile-ID phone or
code alone has three times the pair's). A start takes one free slot of each, held for `window`
seconds. A slot is taken by a conditional write (free, or its hold has run out), so concurrent starts
can never take more than the limit: at most that many starts per identifier in any window, a sliding
limit rather than a fixed-window counter that would allow twice the limit across a window boundary.
Keys are keyed digests: the table never holds the identifier.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker import aws
from eid_broker.config import get_settings
from eid_broker.errors import InternalUnavailable, PersonRateLimited
from eid_broker.keys import keyed_digest
from eid_broker.observability import Metric, count, logger


class PersonThrottle:
    def __init__(
        self,
        table: str,
        client: Any,
        *,
        limit: int,
        window: int,
        digest: Callable[..., str] = keyed_digest,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._client = client
        self._limit = limit
        self._window = window
        self._digest = digest
        self._clock = clock

    def acquire(
        self, family: str, identifiers: Mapping[str, str], shares: Mapping[str, int] | None = None
    ) -> list[tuple[str, float]]:
        """Take one slot for every identifier, or none of them (PersonRateLimited). An identifier's
        `shares` (1 when absent) multiplies the limit for it. The slots taken, for `release`."""
        now = self._clock()
        until = now + self._window
        taken: list[str] = []
        for kind, value in sorted(identifiers.items()):
            person = self._digest("person-throttle", family, kind, value)
            slot, free_at = self._take(person, now, until, self._limit * (shares or {}).get(kind, 1))
            if slot is None:
                self.release([(key, until) for key in taken])
                count(Metric.PERSON_THROTTLED, family=family)
                raise PersonRateLimited(
                    "Too many recent attempts for this person; try again later.",
                    retry_after=max(1, math.ceil(free_at - now)),
                )
            taken.append(slot)
        return [(key, until) for key in taken]

    def release(self, taken: list[tuple[str, float]]) -> None:
        """Give back slots that `acquire` took, if they are still held as it left them."""
        for key, until in taken:
            self._give_back(key, until)

    def _take(self, person: str, now: float, until: float, limit: int) -> tuple[str | None, float]:
        """A free slot's key (now held until `until`), or None and when the first slot frees up."""
        first_free = until
        for index in range(limit):
            key = f"{person}#{index}"
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        "counter_key": {"S": key},
                        "held_until": {"N": repr(until)},
                        "ttl": {"N": str(math.ceil(until) + 60)},
                    },
                    ConditionExpression="attribute_not_exists(counter_key) OR held_until <= :now",
                    ExpressionAttributeValues={":now": {"N": repr(now)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except (ClientError, BotoCoreError) as exc:
                if not isinstance(exc, ClientError) or (
                    exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException"
                ):
                    raise InternalUnavailable("The person limit could not be checked.") from exc
                held = exc.response.get("Item", {}).get("held_until", {}).get("N")
                first_free = min(first_free, float(held) if held else until)
                continue
            return key, until
        return None, first_free

    def _give_back(self, key: str, until: float) -> None:
        """Free a slot this start took (only if it is still ours); if that fails it stays held until
        its window ends, which is stricter, never looser."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"counter_key": {"S": key}},
                ConditionExpression="held_until = :mine",
                ExpressionAttributeValues={":mine": {"N": repr(until)}},
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("person limit slot kept", extra={"reason": type(exc).__name__})


def guard_person(
    family: str, identifiers: Mapping[str, str], shares: Mapping[str, int] | None = None
) -> None:
    """Refuse a start that would push to this person once too often (before any provider call)."""
    settings = get_settings()
    if settings.person_start_limit == 0:
        return
    if not settings.person_throttle_table:
        raise InternalUnavailable("The person limit is not configured.")
    PersonThrottle(
        settings.person_throttle_table,
        aws.client("dynamodb"),
        limit=settings.person_start_limit,
        window=settings.person_start_window_seconds,
    ).acquire(family, identifiers, shares)
