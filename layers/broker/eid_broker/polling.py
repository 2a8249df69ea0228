"""The Step Functions side of polling (statemachines/session_poll.asl.json): the execution input, the
poll task every polling method uses, and the catch-all task. Execution state holds ids and timing only."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from eid_broker.http import bounded_by
from eid_broker.observability import Metric, count, logger

if TYPE_CHECKING:
    from eid_broker.methods.base import Method

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class PollAnswer(TypedDict):
    """What a poll task answers the state machine: stop when `final`, else wait `wait_seconds`."""

    final: bool
    status: str
    wait_seconds: int


def whole_seconds(seconds: float) -> int:
    # Wait states take whole seconds: rounded down, the poll itself sleeps the rest (see due_in).
    return max(1, math.floor(seconds + 0.05))


def pending(wait: float) -> PollAnswer:
    return {"final": False, "status": "pending", "wait_seconds": whole_seconds(wait)}


def final(status: str) -> PollAnswer:
    return {"final": True, "status": status, "wait_seconds": 0}


def execution_input(session_id: str, poll_function: str, first_wait: float) -> dict[str, Any]:
    return {"session_id": session_id, "poll_function": poll_function, "poll": pending(first_wait)}


def handler(method: Method) -> Handler:
    """The poll task of `method`: one check per poll, recorded by the session service."""
    from eid_broker.sessions.service import default_service

    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(session_id=event["session_id"])
        with bounded_by(context):
            return dict(default_service().poll_step(event["session_id"], method))

    return lambda_handler


def failure_handler() -> Handler:
    """The state machine's catch-all: a poll that failed for good is tried again until the deadline."""
    from eid_broker.sessions.service import default_service

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
