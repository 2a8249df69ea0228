"""What a method's own use cases (a provider's webhook, a proof, an OTP step) need of the sessions: the
session service satisfies these, and the function hands it in; methods never import the sessions layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from eid_broker.errors import SessionOutcomeError
from eid_broker.sessions.models import Identity, SessionRecord


class ReadSessions(Protocol):
    def read(self, session_id: str, owner: str) -> SessionRecord: ...


class WebhookSessions(ReadSessions, Protocol):
    """A provider's webhook settles a session once; a proof and a listing read them."""

    def find(self, session_id: str) -> SessionRecord | None: ...

    def owners(self, session_ids: list[str]) -> dict[str, tuple[str, str]]: ...

    def settle_once(
        self,
        record: SessionRecord,
        check: Callable[[SessionRecord], Identity | None],
        *,
        claim_seconds: float,
    ) -> bool: ...

    def poll_soon(self, record: SessionRecord, wait: float) -> None: ...


class OtpSessions(ReadSessions, Protocol):
    """The one-time password step: a limited number of attempts, then a final outcome."""

    def expire(self, record: SessionRecord) -> SessionRecord | None: ...

    def take_attempt(self, session_id: str) -> SessionRecord | None: ...

    def give_back_attempt(self, session_id: str) -> None: ...

    def complete(self, session_id: str, identity: Identity) -> SessionRecord | None: ...

    def fail_with(self, session_id: str, outcome: SessionOutcomeError) -> SessionRecord | None: ...
