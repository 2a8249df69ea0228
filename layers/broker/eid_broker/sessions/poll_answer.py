"""What a poll task answers the state machine (statemachines/session_poll.asl.json), and the execution
input that starts a loop. Execution state holds ids and timing only."""

from __future__ import annotations

import math
from typing import Any, TypedDict


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
