"""DynamoDB access for the OpenID Provider: one table, one item kind per key prefix.

`client#{client_id}` (a registered client), `login#{digest}` (a login transaction), `code#{digest}` (an
authorization code), `token#{digest}` (an access token), `jti#{client_id}#{jti}` (a used client
assertion id). Codes, tokens and transaction ids are stored only as keyed digests, so the table never
holds a value that works at the token or userinfo endpoint; every item but a client expires by TTL.
"""

from __future__ import annotations

import time
from typing import Any

from eid_broker.dynamo import conditional_call, plain_item, serialize
from eid_broker.keys import keyed_digest


def secret_key(kind: str, value: str) -> str:
    """The item key of a bearer value (code, token, transaction id): its keyed digest."""
    return f"{kind}#{keyed_digest(f'oidc-{kind}', value)}"


class OidcStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def _call(self, operation: str, **request: Any) -> dict[str, Any] | None:
        """One request; None when its condition did not hold."""
        return conditional_call(
            self._client,
            self._table,
            operation,
            "The login service's storage did not answer; try again.",
            **request,
        )

    def get(self, key: str) -> dict[str, Any] | None:
        answer = self._call("get_item", Key={"pk": {"S": key}}, ConsistentRead=True) or {}
        item = answer.get("Item")
        if item is None:
            return None
        found = plain_item(item)
        if "ttl" in found and found["ttl"] <= time.time():
            return None  # TTL deletes lazily: an expired item is gone for every reader
        return found

    def put(self, key: str, item: dict[str, Any], *, new: bool = False, ttl: float | None = None) -> bool:
        """Store the item; with `new`, only if no live item has the key (False otherwise)."""
        values = {name: serialize(value) for name, value in item.items() if value is not None}
        values["pk"] = {"S": key}
        if ttl is not None:
            values["ttl"] = {"N": str(int(time.time() + ttl))}
        condition: dict[str, Any] = {}
        if new:
            condition = {
                "ConditionExpression": "attribute_not_exists(pk) OR #ttl <= :now",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": {":now": {"N": str(int(time.time()))}},
            }
        return self._call("put_item", Item=values, **condition) is not None

    def update(self, key: str, expected: dict[str, Any], changes: dict[str, Any]) -> bool:
        """Set `changes` if every `expected` attribute still has its value (a conditional write)."""
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        names.update({f"#e{i}": name for i, name in enumerate(expected)})
        values = {f":c{i}": serialize(value) for i, value in enumerate(changes.values())}
        values.update({f":e{i}": serialize(value) for i, value in enumerate(expected.values())})
        sets = ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
        checks = " AND ".join(["attribute_exists(pk)", *(f"#e{i} = :e{i}" for i in range(len(expected)))])
        answer = self._call(
            "update_item",
            Key={"pk": {"S": key}},
            UpdateExpression=f"SET {sets}",
            ConditionExpression=checks,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return answer is not None

    def hold(self, key: str, attribute: str, until: int, now: int) -> bool:
        """Set `attribute` to `until` if the item exists and the attribute is absent or past `now`."""
        answer = self._call(
            "update_item",
            Key={"pk": {"S": key}},
            UpdateExpression="SET #a = :until",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#a) OR #a < :now)",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":until": {"N": str(until)}, ":now": {"N": str(now)}},
        )
        return answer is not None

    def take(self, key: str) -> dict[str, Any] | None:
        """Delete the item and return what it held: only one caller ever gets a given item."""
        answer = self._call(
            "delete_item",
            Key={"pk": {"S": key}},
            ConditionExpression="attribute_exists(pk)",
            ReturnValues="ALL_OLD",
        )
        if not answer or "Attributes" not in answer:
            return None
        found = plain_item(answer["Attributes"])
        if "ttl" in found and found["ttl"] <= time.time():
            return None
        return found

    def delete(self, key: str, owner: str | None = None) -> bool:
        """Delete the item (only if `owner` still owns it, when given); False if it did not."""
        condition = {
            "ConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
        }
        answer = self._call("delete_item", Key={"pk": {"S": key}}, **(condition if owner else {}))
        return answer is not None
