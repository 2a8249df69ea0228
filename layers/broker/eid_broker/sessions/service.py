"""The session service: every use case of a session's life, one module each, composed here.

start.py (open: store + start polling), reading.py (read, long-poll), cancel.py, poll_step.py (one poll,
its status and fault rules), erasure.py (on request and by retention), otp_attempts.py.
"""

from __future__ import annotations

from functools import lru_cache

from eid_broker import aws
from eid_broker.config import Settings, get_settings
from eid_broker.sessions.cancel import CancelSessions
from eid_broker.sessions.core import SESSION_ID, as_session_error, count_final, timeout_error
from eid_broker.sessions.erasure import EraseSessions
from eid_broker.sessions.otp_attempts import OtpAttempts
from eid_broker.sessions.poll_step import PollStep
from eid_broker.sessions.repository import SessionRepository
from eid_broker.sessions.start import StartSessions
from eid_broker.wait_slots import WaitSlots

__all__ = [
    "SESSION_ID",
    "SessionService",
    "as_session_error",
    "count_final",
    "default_service",
    "service_for",
    "timeout_error",
]


class SessionService(StartSessions, CancelSessions, EraseSessions, PollStep, OtpAttempts):
    """Sessions for every method: a method asks its provider, this records what it said."""


def default_service() -> SessionService:
    """This function's service, built once per settings (tests host several functions in one process)."""
    return service_for(get_settings())


@lru_cache(maxsize=32)
def service_for(settings: Settings) -> SessionService:
    repo = SessionRepository(
        settings.sessions_table,
        aws.client("dynamodb"),
        settings.session_retention_days,
        settings.personal_data_retention_days,
    )
    slots = None
    if settings.limits_table:
        slots = WaitSlots(settings.limits_table, aws.client("dynamodb"), limit=settings.long_poll_max_per_key)
    return SessionService(
        repo,
        aws.LazyClient("stepfunctions"),
        settings.session_poll_state_machine_arn,
        poll_function=settings.poll_function_arn,
        wait_slots=slots,
    )
