"""Scheduled (hourly): erase the personal data of final sessions past PERSONAL_DATA_RETENTION_DAYS."""

from typing import Any

from eid_broker.http import RESERVE_SECONDS
from eid_broker.observability import logger
from eid_broker.wiring import default_service


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    budget = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    return {"erased": default_service().erase_due(budget_seconds=budget)}
