from eid_broker.sessions.models import (
    FINAL_STATUSES,
    Certificate,
    Credentials,
    Identity,
    NextAction,
    SessionError,
    SessionOut,
    SessionRecord,
    SessionWithCredentials,
    Status,
)
from eid_broker.sessions.repository import SessionRepository

__all__ = [
    "FINAL_STATUSES",
    "Certificate",
    "Credentials",
    "Identity",
    "NextAction",
    "SessionError",
    "SessionOut",
    "SessionRecord",
    "SessionRepository",
    "SessionWithCredentials",
    "Status",
]
