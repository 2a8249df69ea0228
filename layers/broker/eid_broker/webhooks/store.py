"""DynamoDB access for webhook endpoints and deliveries: one table.

An owner's (an API key id's) endpoint is the item (`owner`, `endpoint`); its deliveries are spread
over DELIVERY_SHARDS partitions (`<owner>#<shard>`, `delivery#<delivery_id>`), because each delivery
writes three times and one partition takes 1,000 writes a second: unsharded, one integrator could
not pass 333 sessions a second. Delivery ids start with their creation time, so a reverse query of
each shard lists them newest first.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.dynamo import is_condition_failure, item_of, plain_item, serialize
from eid_broker.errors import InternalUnavailable
from eid_broker.webhooks.models import Delivery, DeliveryStatus, Endpoint

ENDPOINT = "endpoint"
DELIVERY = "delivery#"
DELIVERY_SHARDS = 16


def _key(owner: str, item: str) -> dict[str, Any]:
    return {"owner": {"S": owner}, "item": {"S": item}}


def _partition(owner: str, delivery_id: str) -> str:
    """The partition of a delivery (or of a session's deliveries): from the id's last hex digit."""
    return f"{owner}#{int(delivery_id[-1], 16) % DELIVERY_SHARDS}"


def _delivery(owner: str, found: dict[str, Any] | None) -> Delivery | None:
    return Delivery.model_validate({**found, "owner": owner}) if found else None


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": serialize(value) for name, value in values.items()}


class WebhookStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def _call(self, operation: str, **request: Any) -> dict[str, Any] | None:
        """One request; None when its condition did not hold."""
        try:
            return getattr(self._client, operation)(TableName=self._table, **request)
        except (ClientError, BotoCoreError) as exc:
            if is_condition_failure(exc):
                return None
            raise InternalUnavailable("Webhook settings could not be read or stored.") from exc

    def _update(self, owner: str, item: str, expression: str, condition: str, **values: Any) -> Any:
        names = {name: name[1:] for name in ("#status", "#url") if name in expression + condition}
        answer = self._call(
            "update_item",
            Key=_key(owner, item),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ReturnValues="ALL_NEW",
            **({"ExpressionAttributeNames": names} if names else {}),
            **({"ExpressionAttributeValues": _values(**values)} if values else {}),
        )
        return plain_item(answer["Attributes"]) if answer else None

    def _get(self, owner: str, item: str) -> dict[str, Any] | None:
        answer = self._call("get_item", Key=_key(owner, item), ConsistentRead=True)
        found = (answer or {}).get("Item")
        return plain_item(found) if found else None

    def _create(self, partition: str, item: str, record: Endpoint | Delivery) -> bool:
        """Store a new item; False if one with its key is stored already."""
        return (
            self._call(
                "put_item",
                Item={**item_of(record), **_key(partition, item)},
                ConditionExpression="attribute_not_exists(#item)",
                ExpressionAttributeNames={"#item": "item"},
            )
            is not None
        )

    # Endpoints

    def endpoint(self, owner: str) -> Endpoint | None:
        found = self._get(owner, ENDPOINT)
        return Endpoint.model_validate(found) if found else None

    def create_endpoint(self, endpoint: Endpoint) -> bool:
        return self._create(endpoint.owner, ENDPOINT, endpoint)

    def _change_endpoint(self, owner: str, expression: str, **values: Any) -> Endpoint | None:
        answer = self._update(owner, ENDPOINT, expression, "attribute_exists(secret)", **values)
        return Endpoint.model_validate(answer) if answer else None

    def change_url(self, owner: str, url: str, now: str) -> Endpoint | None:
        """A new URL for an existing endpoint, which it enables again (after a 410 disabled it)."""
        expression = "SET #url = :url, enabled = :on, updated_at = :now REMOVE disabled_at"
        return self._change_endpoint(owner, expression, url=url, on=True, now=now)

    def rotate_secret(self, owner: str, secret: str, previous_until: float, now: str) -> Endpoint | None:
        expression = (
            "SET previous_secret = secret, previous_until = :until, secret = :secret, updated_at = :now"
        )
        return self._change_endpoint(owner, expression, secret=secret, until=previous_until, now=now)

    def disable(self, owner: str, url: str, now: str) -> None:
        """Disable the endpoint that answered 410, unless its URL has changed since."""
        self._update(
            owner,
            ENDPOINT,
            "SET enabled = :off, disabled_at = :now",
            "#url = :url",
            off=False,
            now=now,
            url=url,
        )

    def delete_endpoint(self, owner: str) -> bool:
        answer = self._call(
            "delete_item",
            Key=_key(owner, ENDPOINT),
            ConditionExpression="attribute_exists(secret)",
        )
        return answer is not None

    # Deliveries

    def _update_delivery(
        self, owner: str, delivery_id: str, expression: str, condition: str, **values: Any
    ) -> Any:
        answer = self._update(
            _partition(owner, delivery_id), DELIVERY + delivery_id, expression, condition, **values
        )
        return _delivery(owner, answer)

    def delivery(self, owner: str, delivery_id: str) -> Delivery | None:
        return _delivery(owner, self._get(_partition(owner, delivery_id), DELIVERY + delivery_id))

    def create_delivery(self, delivery: Delivery) -> bool:
        """Record a delivery once: False if its id is already recorded (a repeated stream record)."""
        partition = _partition(delivery.owner, delivery.delivery_id)
        return self._create(partition, DELIVERY + delivery.delivery_id, delivery)

    def deliveries(self, owner: str, session_id: str | None, limit: int = 100) -> list[Delivery]:
        """The owner's newest `limit` deliveries (of one session, if given), newest first. A session's
        events are in one shard: their delivery ids end with the session id, whose last digit picks it."""
        partitions = (
            [_partition(owner, session_id)]
            if session_id is not None
            else [f"{owner}#{shard}" for shard in range(DELIVERY_SHARDS)]
        )
        found: list[Delivery] = []
        for partition in partitions:
            found += self._shard_deliveries(owner, partition, session_id, limit)
        return sorted(found, key=lambda d: d.delivery_id, reverse=True)[:limit]

    def _shard_deliveries(
        self, owner: str, partition: str, session_id: str | None, limit: int
    ) -> list[Delivery]:
        request: dict[str, Any] = {
            "KeyConditionExpression": "#owner = :partition AND begins_with(#item, :prefix)",
            "ExpressionAttributeNames": {"#owner": "owner", "#item": "item"},
            "ExpressionAttributeValues": _values(partition=partition, prefix=DELIVERY),
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if session_id is not None:
            request["FilterExpression"] = "session_id = :sid"
            request["ExpressionAttributeValues"].update(_values(sid=session_id))
        found: list[Delivery] = []
        for _ in range(10):  # at most 10 pages (10 MB) of a shard are read for one answer
            answer = self._call("query", **request) or {}
            found += [d for item in answer.get("Items", []) if (d := _delivery(owner, plain_item(item)))]
            if len(found) >= limit or "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return found[:limit]

    def claim(self, owner: str, delivery_id: str, attempt: int, now: float, lease: float) -> Delivery | None:
        """Take the `attempt`-th attempt; None if it was taken (a duplicate message) or the delivery ended.

        An attempt whose sender died is taken again once its lease has run out.
        """
        return self._update_delivery(
            owner,
            delivery_id,
            "SET attempts = :attempt, claimed_until = :until",
            "#status IN (:pending, :retrying) AND (attempts = :previous"
            " OR (attempts = :attempt AND claimed_until < :now))",
            attempt=attempt,
            previous=attempt - 1,
            until=now + lease,
            now=now,
            pending="pending",
            retrying="retrying",
        )

    def record_attempt(
        self,
        delivery: Delivery,
        status: DeliveryStatus,
        *,
        status_code: int | None,
        error: str | None,
        next_attempt_at: str | None,
    ) -> None:
        sets = ["#status = :status"]
        removes = ["claimed_until"]
        values: dict[str, Any] = {"status": status, "attempt": delivery.attempts}
        for name, value in (
            ("last_status_code", status_code),
            ("last_error", error),
            ("next_attempt_at", next_attempt_at),
        ):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[name] = value
        self._update_delivery(
            delivery.owner,
            delivery.delivery_id,
            f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "attempts = :attempt",
            **values,
        )

    def queue_again(self, owner: str, delivery_id: str, now: float, at: str) -> Delivery | None:
        """Mark a delivery for one more attempt (redeliver); None if unknown or an attempt is running."""
        return self._update_delivery(
            owner,
            delivery_id,
            "SET #status = :pending, next_attempt_at = :at",
            "attribute_exists(delivery_id) AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            pending="pending",
            at=at,
            now=now,
        )
