from typing import Any

from eid_broker.methods import dokobit_mobile_id
from eid_broker.observability import logger
from eid_broker.sessions.service import default_service


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(session_id=event["session_id"])
    return default_service().poll_step(event["session_id"], event["deadline"], dokobit_mobile_id.check)
