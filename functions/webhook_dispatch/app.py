"""The sessions table's change stream: one webhook event per session that became final."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from eid_broker import aws
from eid_broker.observability import logger
from eid_broker.sessions.repository import record_from_item
from eid_broker.webhooks.dispatch import is_final_transition
from eid_broker.wiring import dispatch

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    change = record.raw_event.get("dynamodb") or {}
    new = change.get("NewImage")
    # A final transition always has a new image (is_final_transition reads its status).
    if new is not None and is_final_transition(
        str(record.raw_event.get("eventName")), change.get("OldImage"), new
    ):
        dispatch().record_final(record_from_item(new))


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


aws.before_snapshot(dispatch)
