from eid_broker.sessions.models import (
    FINAL_STATUSES,
    Certificate,
    Identity,
    NextAction,
    SessionError,
    SessionOut,
    SessionRecord,
    Status,
)
from eid_broker.sessions.repository import SessionRepository

__all__ = [
    "FINAL_STATUSES",
    "Certificate",
    "Identity",
    "NextAction",
    "SessionError",
    "SessionOut",
    "SessionRecord",
    "SessionRepository",
    "Status",
]
