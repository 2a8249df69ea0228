from eid_broker.sessions.models import (
    FINAL_STATUSES,
    Certificate,
    Credentials,
    EnterOtp,
    Identity,
    NextAction,
    Redirect,
    SessionError,
    SessionOut,
    SessionRecord,
    SessionWithCredentials,
    ShowControlCode,
    Status,
)
from eid_broker.sessions.repository import SessionRepository

__all__ = [
    "FINAL_STATUSES",
    "Certificate",
    "Credentials",
    "EnterOtp",
    "Identity",
    "NextAction",
    "Redirect",
    "SessionError",
    "SessionOut",
    "SessionRecord",
    "SessionRepository",
    "SessionWithCredentials",
    "ShowControlCode",
    "Status",
]
