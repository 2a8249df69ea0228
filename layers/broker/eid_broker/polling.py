"""The Step Functions side of polling (statemachines/session_poll.asl.json): the execution input, the
poll task every polling method uses, and the catch-all task. Execution state holds ids and timing only."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eid_broker.http import bounded_by
from eid_broker.observability import Metric, count, logger
from eid_broker.sessions.poll_answer import PollAnswer, execution_input, final, pending, whole_seconds
from eid_broker.wiring import default_service

if TYPE_CHECKING:
    from eid_broker.methods.base import Method

__all__ = ["PollAnswer", "execution_input", "failure_handler", "final", "handler", "pending", "whole_seconds"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def handler(method: Method) -> Handler:
    """The poll task of `method`: one check per poll, recorded by the session service."""

    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(session_id=event["session_id"])
        with bounded_by(context):
            return dict(default_service().poll_step(event["session_id"], method))

    return lambda_handler


def failure_handler() -> Handler:
    """The state machine's catch-all: a poll that failed for good is tried again until the deadline."""

    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        count(Metric.POLL_FAILURES)
        logger.error(
            "poll failed", extra={"session_id": event["session_id"], "task_error": event.get("error")}
        )
        wait = int(event.get("wait_seconds") or 1)
        return dict(
            default_service().polling_failed(event["session_id"], str(event.get("error") or ""), wait)
        )

    return lambda_handler
