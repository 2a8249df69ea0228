"""OTP attempts of a mosip-otp session, reserved before the provider is asked."""

from __future__ import annotations

from eid_broker.sessions.core import SessionCore
from eid_broker.sessions.models import SessionRecord


class OtpAttempts(SessionCore):
    def take_attempt(self, session_id: str) -> SessionRecord | None:
        """Reserve an OTP attempt before the provider is asked: the session as it now stands, or None."""
        return self.repo.take_attempt(session_id)

    def give_back_attempt(self, session_id: str) -> None:
        """An attempt the provider never judged (it could not be reached, or refused to answer)."""
        self.repo.give_back_attempt(session_id)
