from typing import Any

from eid_broker.observability import logger
from eid_broker.sessions.service import default_service


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The state machine's catch-all: a poll that failed for good is tried again until the deadline."""
    logger.error("poll failed", extra={"session_id": event["session_id"], "task_error": event.get("error")})
    wait = int(event.get("wait_seconds") or 1)
    return default_service().polling_failed(event["session_id"], str(event.get("error") or ""), wait)
