"""The method contract: what one identity method is, and the registry that finds every method.

A method asks its provider to start (`begin`) and, if it polls, reads the outcome (`check`); the session
service does the rest (storing, polling, refusals, deadlines), so a method never touches a table.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eid_broker.config import get_settings
from eid_broker.errors import Code
from eid_broker.keys import keyed_digest
from eid_broker.password_guard import NO_GUARD, AttemptGuard
from eid_broker.sessions.models import Credentials, Identity, NextAction, SessionRecord


class StartBody(BaseModel):
    """What every start body shares: strict types, no unknown field, the integrator's own reference."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reference: str | None = Field(
        default=None, description="The integrator's own reference, echoed back.", max_length=128
    )


@dataclass(frozen=True)
class Opening:
    """What the provider said at start, for the session service to record."""

    next_action: NextAction | None = None  # pending: what the integrator shows the person
    provider_ref: dict[str, str] = field(default_factory=dict)
    expected_subject_hmac: str | None = None
    expires: datetime | None = None  # the provider's own deadline, instead of the method's lifetime
    identity: Identity | None = None  # completed at start
    credentials: Credentials | None = None  # handed over once, with a completed start
    undo: Callable[[], None] | None = None  # a completed start that could not be recorded: revoke it


class Method:
    """One identity method: `POST /v1/sessions/{name}` with a `body`, then polled every `interval_seconds`
    (None: not polled, the integrator's next call settles it) until `timeout_seconds`."""

    name: str
    body: type[StartBody]
    summary: str
    description: str
    hands_credentials: bool = False
    interval_seconds: float | None = None
    timeout_seconds: float = 120.0
    expiry_code: Code = Code.TIMEOUT
    # Starts that push to a person (a prompt, an SMS) are limited per person across all API keys.
    throttle_family: str | None = None
    # An identifier's limit as a multiple of PERSON_START_LIMIT (1 when absent): what a provider checks
    # as a whole counts at the limit, a part of it (a phone alone) more loosely, so that a stranger's
    # starts with a victim's phone cannot use up the victim's own.
    person_shares: Mapping[str, int] = MappingProxyType({})

    def lifetime(self) -> float:
        return get_settings().timeout_for(self.timeout_seconds)

    def first_wait(self) -> float:
        return get_settings().interval_for(self.interval_seconds or 1.0)

    def person(self, body: Any) -> dict[str, str]:
        """The identifiers a start pushes to, normalised (eid_broker.identifiers), each counted on its own."""
        return {}

    def attempt_guard(self, body: Any, owner: str) -> AttemptGuard:
        """What this start must hold while the provider is asked (a password method's failure limit)."""
        return NO_GUARD

    def begin(self, body: Any, session_id: str) -> Opening:
        """Ask the provider to start. Raises SessionOutcomeError for a refusal, a BrokerError for a fault."""
        raise NotImplementedError

    def check(self, record: SessionRecord) -> Identity | None:
        """One poll: None while the person has not finished; raises SessionOutcomeError for a final no."""
        raise NotImplementedError

    def wait(self, record: SessionRecord, now: datetime) -> float:
        """Until the next point of the provider's grid (the session's start + k × interval), so the
        polls keep the provider's cadence whatever a poll itself takes."""
        interval, elapsed = self._grid(record, now)
        return (math.floor(elapsed / interval) + 1) * interval - elapsed

    def due_in(self, record: SessionRecord, now: datetime) -> float:
        """How early this poll is for its grid point (a Wait state takes whole seconds only)."""
        if self.interval_seconds is None:
            return 0.0
        interval, elapsed = self._grid(record, now)
        return max(0.0, round(elapsed / interval) * interval - elapsed)

    def _grid(self, record: SessionRecord, now: datetime) -> tuple[float, float]:
        """The poll interval, and the seconds since the session started (where its grid begins)."""
        return self.first_wait(), (now - record.created_at_dt()).total_seconds()

    @property
    def abandons_on_cancel(self) -> bool:
        """Whether a cancel is told to the provider (by the next poll, which needs the provider's handle)."""
        return type(self).abandon is not Method.abandon

    def abandon(self, record: SessionRecord) -> None:
        """Tell the provider the broker no longer waits (after a cancel); most need not be told."""


def subject_digest(country: str, code: str) -> str:
    """Keyed: the expected person is checked later without storing a guessable digest of them."""
    return keyed_digest("subject", country, code)


@cache
def registry() -> dict[str, Method]:
    """Every method, found in this package's modules: a new method registers by being there."""
    package = importlib.import_module(__package__ or "eid_broker.methods")
    found: dict[str, Method] = {}
    for module in pkgutil.iter_modules(package.__path__):
        for value in vars(importlib.import_module(f"{package.__name__}.{module.name}")).values():
            if isinstance(value, Method):
                found[value.name] = value
    return dict(sorted(found.items()))
