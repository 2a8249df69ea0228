"""DynamoDB access for webhook endpoints and deliveries: one table.

An owner's (an API key id's) endpoint is the item (`owner`, `endpoint`); its deliveries are spread
over DELIVERY_SHARDS partitions (`<owner>#<shard>`, `delivery#<delivery_id>`), because each delivery
writes three times and one partition takes 1,000 writes a second: unsharded, one integrator could
not pass 333 sessions a second. Delivery ids start with their creation time, so a reverse query of
each shard lists them newest first.
"""

from __future__ import annotations

from typing import Any

from eid_broker.dynamo import conditional_call, item_of, plain_item
from eid_broker.webhooks.listing import DELIVERY, DELIVERY_NAMES, Listing, _delivery, _partition, _values
from eid_broker.webhooks.models import Delivery, DeliveryStatus, Endpoint

ENDPOINT = "endpoint"


def _key(owner: str, item: str) -> dict[str, Any]:
    return {"owner": {"S": owner}, "item": {"S": item}}


class WebhookStore(Listing):
    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def _call(self, operation: str, **request: Any) -> dict[str, Any] | None:
        """One request; None when its condition did not hold."""
        return conditional_call(
            self._client, self._table, operation, "Webhook settings could not be read or stored.", **request
        )

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

    def endpoint_enabled(self, owner: str) -> bool:
        """Whether the owner has an enabled endpoint, reading no secret (dispatch's IAM allows no more)."""
        answer = self._call(
            "get_item",
            Key=_key(owner, ENDPOINT),
            ConsistentRead=True,
            ProjectionExpression="enabled",
        )
        found = (answer or {}).get("Item")
        return bool(found and plain_item(found).get("enabled", True))

    def drop_previous_secret(self, owner: str, previous_until: float | None) -> None:
        """Remove the previous secret once its overlap has ended (unless a new rotation replaced it)."""
        self._call(
            "update_item",
            Key=_key(owner, ENDPOINT),
            UpdateExpression="REMOVE previous_secret, previous_until",
            ConditionExpression="previous_until = :until",
            ExpressionAttributeValues=_values(until=previous_until or 0),
        )

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
        """A delivery, reading its own attributes only (the IAM of dispatch and of the deliveries
        function allows no other read)."""
        answer = self._call(
            "get_item",
            Key=_key(_partition(owner, delivery_id), DELIVERY + delivery_id),
            ConsistentRead=True,
            ProjectionExpression=", ".join(DELIVERY_NAMES),
            ExpressionAttributeNames=DELIVERY_NAMES,
        )
        found = (answer or {}).get("Item")
        return _delivery(owner, plain_item(found)) if found else None

    def create_delivery(self, delivery: Delivery) -> bool:
        """Record a delivery once: False if its id is already recorded (a repeated stream record)."""
        partition = _partition(delivery.owner, delivery.delivery_id)
        return self._create(partition, DELIVERY + delivery.delivery_id, delivery)

    def claim(
        self, owner: str, delivery_id: str, attempt: int, now: float, lease: float, stale_at: str
    ) -> tuple[Delivery, bool] | None:
        """Take the `attempt`-th attempt: the delivery, and whether that attempt was taken before by a
        sender that was stopped (its lease ran out, nothing recorded). None if another sender holds
        it (a duplicate message) or the delivery ended. While it runs, `next_attempt_at` is `stale_at`:
        when a stopped attempt's message comes back."""
        values = dict(until=now + lease, stale=stale_at, pending="pending", retrying="retrying")
        fresh = self._update_delivery(
            owner,
            delivery_id,
            "SET attempts = :attempt, claimed_until = :until, next_attempt_at = :stale",
            "#status IN (:pending, :retrying) AND attempts = :previous",
            attempt=attempt,
            previous=attempt - 1,
            **values,
        )
        if fresh is not None:
            return fresh, False
        again = self._update_delivery(
            owner,
            delivery_id,
            "SET claimed_until = :until, next_attempt_at = :stale",
            "#status IN (:pending, :retrying) AND attempts = :attempt AND claimed_until < :now",
            attempt=attempt,
            now=now,
            **values,
        )
        return (again, True) if again is not None else None

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

    def queue_again(self, owner: str, delivery_id: str, attempts: int, now: float, at: str) -> bool:
        """Mark a delivery that has made `attempts` attempts for one more (redeliver); False if it has
        made others since or an attempt is running. Returns nothing of the item (the deliveries
        function's IAM allows no more)."""
        answer = self._call(
            "update_item",
            Key=_key(_partition(owner, delivery_id), DELIVERY + delivery_id),
            UpdateExpression="SET #status = :pending, next_attempt_at = :at",
            ConditionExpression="attribute_exists(delivery_id) AND attempts = :attempts"
            " AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_values(pending="pending", at=at, attempts=attempts, now=now),
        )
        return answer is not None
