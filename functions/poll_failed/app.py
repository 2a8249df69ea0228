from typing import Any

from eid_broker.errors import code_for_task_error
from eid_broker.observability import logger
from eid_broker.sessions import SessionError
from eid_broker.sessions.service import default_service


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    code, message = code_for_task_error(event.get("error", ""))
    logger.error(
        "polling failed", extra={"session_id": event["session_id"], "task_error": event.get("error")}
    )
    return default_service().fail(event["session_id"], SessionError(code=code, message=message))
