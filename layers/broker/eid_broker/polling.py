"""The Step Functions poll task every polling method uses (statemachines/session_poll.asl.json)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eid_broker.http import bounded_by
from eid_broker.observability import logger
from eid_broker.sessions import Identity, SessionRecord
from eid_broker.sessions.service import default_service

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def poll_handler(
    check: Callable[[SessionRecord], Identity | None],
    wait: Callable[[SessionRecord], float],
    abandon: Callable[[SessionRecord], None] | None = None,
) -> Handler:
    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(session_id=event["session_id"])
        with bounded_by(context):
            return default_service().poll_step(event["session_id"], check, wait, abandon)

    return lambda_handler
