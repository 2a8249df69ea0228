"""Provider access tokens, cached in DynamoDB with a warm in-memory copy.

A token is reused until `margin` seconds before it expires. Refreshing is single-flight across every
container: the refresher takes a short conditional-write lease, the others wait for its token, so a
burst of cold starts makes one token call (two if a lease expires mid-refresh). Token values are
never logged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.errors import InternalUnavailable, ProviderUnavailable
from eid_broker.observability import logger


def _condition_failed(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == (
        "ConditionalCheckFailedException"
    )


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # epoch seconds


class TokenCache:
    def __init__(
        self,
        table: str,
        client: Any,
        *,
        margin: float = 20.0,
        lease_seconds: float = 10.0,
        wait_seconds: float = 8.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._client = client
        self._margin = margin
        self._lease = lease_seconds
        self._wait = wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._owner = uuid.uuid4().hex
        self._memory: dict[str, Token] = {}

    def _fresh(self, token: Token | None) -> bool:
        return token is not None and token.expires_at - self._margin > self._clock()

    def get(self, key: str, fetch: Callable[[], Token]) -> str:
        """A valid token for `key`; `fetch` is called only by the one refresher."""
        token = self._memory.get(key)
        if self._fresh(token):
            return token.value  # type: ignore[union-attr]
        deadline = self._clock() + self._wait
        while True:
            token = self._stored(key)
            if self._fresh(token):
                self._memory[key] = token  # type: ignore[assignment]
                return token.value  # type: ignore[union-attr]
            if self._take_lease(key):
                return self._refresh(key, fetch)
            if self._clock() > deadline:
                raise ProviderUnavailable("A provider token refresh did not finish in time.")
            self._sleep(0.15)

    def invalidate(self, key: str, value: str) -> None:
        """Forget a token the provider refused (only if it is still the stored one)."""
        self._memory.pop(key, None)
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"token_key": {"S": key}},
                ConditionExpression="access_token = :value",
                ExpressionAttributeValues={":value": {"S": value}},
            )
        except (ClientError, BotoCoreError) as exc:
            if not _condition_failed(exc):
                raise InternalUnavailable("The token cache could not be updated.") from exc

    def _stored(self, key: str) -> Token | None:
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"token_key": {"S": key}}, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise InternalUnavailable("The token cache could not be read.") from exc
        if not item or "access_token" not in item:
            return None
        return Token(item["access_token"]["S"], float(item["expires_at"]["N"]))

    def _take_lease(self, key: str) -> bool:
        now = self._clock()
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"token_key": {"S": key}},
                UpdateExpression="SET lease_until = :until, lease_owner = :owner, #ttl = :ttl",
                ConditionExpression=(
                    "(attribute_not_exists(lease_until) OR lease_until < :now)"
                    " AND (attribute_not_exists(expires_at) OR expires_at < :fresh)"
                ),
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":until": {"N": str(now + self._lease)},
                    ":owner": {"S": self._owner},
                    ":now": {"N": str(now)},
                    ":fresh": {"N": str(now + self._margin)},
                    ":ttl": {"N": str(int(now + 3600))},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            if _condition_failed(exc):
                return False
            raise InternalUnavailable("The token cache could not be updated.") from exc
        return True

    def _refresh(self, key: str, fetch: Callable[[], Token]) -> str:
        try:
            token = fetch()
        except BaseException:
            self._release(key)
            raise
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "token_key": {"S": key},
                    "access_token": {"S": token.value},
                    "expires_at": {"N": str(token.expires_at)},
                    "ttl": {"N": str(int(token.expires_at) + 3600)},
                },
            )
        except ClientError:
            logger.warning("token not cached", extra={"token_key": key})
        self._memory[key] = token
        logger.info("provider token refreshed", extra={"token_key": key, "expires_at": token.expires_at})
        return token.value

    def _release(self, key: str) -> None:
        with contextlib.suppress(ClientError):  # the lease expires by itself anyway
            self._client.update_item(
                TableName=self._table,
                Key={"token_key": {"S": key}},
                UpdateExpression="REMOVE lease_until, lease_owner",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": self._owner}},
            )


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (the broker only needs to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


@cache
def shared_cache() -> TokenCache:
    """The container's token cache, shared by every token-based provider client."""
    from eid_broker import aws
    from eid_broker.config import get_settings

    return TokenCache(get_settings().tokens_table or "", aws.client("dynamodb"))


def with_token(
    tokens: TokenCache,
    key: str,
    fetch: Callable[[], Token],
    call: Callable[[str], Any],
    refused: Callable[[], Exception],
) -> Any:
    """Make `call` with the cached token; a 401 drops that token, refreshes once and retries once."""
    for _ in range(2):
        token = tokens.get(key, fetch)
        response = call(token)
        if response.status_code != 401:
            return response
        tokens.invalidate(key, token)
    raise refused()
