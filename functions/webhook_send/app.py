"""The delivery queue: one signed attempt per message; a failed one is queued again on the schedule."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from eid_broker import aws
from eid_broker.observability import logger
from eid_broker.webhooks.models import Attempt
from eid_broker.wiring import sender

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    sender().attempt(Attempt.model_validate_json(record.body))


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


aws.before_snapshot(sender)
