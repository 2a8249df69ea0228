"""DynamoDB's typed attribute values to and from plain Python and pydantic models, in one place."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from eid_broker.errors import InternalUnavailable


@lru_cache(maxsize=1)
def _codec() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def serialize(value: Any) -> dict[str, Any]:
    # DynamoDB numbers must be Decimal, never float.
    return _codec()[0].serialize(Decimal(str(value)) if isinstance(value, float) else value)


def attribute(model: BaseModel, **dump: Any) -> Any:
    # DynamoDB numbers must be Decimal, never float.
    return json.loads(model.model_dump_json(**dump), parse_float=Decimal)


def item_of(model: BaseModel) -> dict[str, Any]:
    """A model as a typed item; None fields are left out."""
    return {key: serialize(value) for key, value in attribute(model, exclude_none=True).items()}


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the API shows them as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = _codec()[1]
    return {key: plain(deserializer.deserialize(value)) for key, value in item.items()}


def is_condition_failure(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def conditional_call(client: Any, table: str, operation: str, unavailable: str, **request: Any) -> Any:
    """One request on `table`; None when its condition did not hold. Any other failure is
    InternalUnavailable with the `unavailable` text (the store's own words for the caller)."""
    try:
        return getattr(client, operation)(TableName=table, **request)
    except (ClientError, BotoCoreError) as exc:
        if is_condition_failure(exc):
            return None
        raise InternalUnavailable(unavailable) from exc
