"""The session service: every use case of a session's life, one module each, composed here.

start.py (open: store + start polling), reading.py (read, long-poll), cancel.py, poll_step.py (one poll,
its status and fault rules), erasure.py (on request and by retention), otp_attempts.py.
"""

from __future__ import annotations

from eid_broker.sessions.cancel import CancelSessions
from eid_broker.sessions.core import as_session_error, count_final, timeout_error
from eid_broker.sessions.erasure import EraseSessions
from eid_broker.sessions.models import SESSION_ID
from eid_broker.sessions.otp_attempts import OtpAttempts
from eid_broker.sessions.poll_step import PollStep
from eid_broker.sessions.start import StartSessions

__all__ = [
    "SESSION_ID",
    "SessionService",
    "as_session_error",
    "count_final",
    "timeout_error",
]


class SessionService(StartSessions, CancelSessions, EraseSessions, PollStep, OtpAttempts):
    """Sessions for every method: a method asks its provider, this records what it said."""
