"""The password-guessing limit of mosip-password: after PASSWORD_FAILURE_LIMIT `INVALID_CREDENTIALS`
outcomes for one username (normalised) through one API key within PASSWORD_FAILURE_WINDOW_SECONDS, the
next start is refused (429 PERSON_RATE_LIMITED with Retry-After) before MOSIP is asked.

Each attempt reserves one of the limit's slots before MOSIP is asked (a conditional write, so concurrent
guesses can never exceed the limit) and gives it back unless MOSIP said the credentials were wrong: only
failures stay counted, each for the window. The slots live in the limits table under keyed digests.
"""

from __future__ import annotations

from eid_broker import aws, identifiers
from eid_broker.config import get_settings
from eid_broker.errors import Code, InternalUnavailable
from eid_broker.throttle import PersonThrottle

FAMILY = "mosip-password-failures"


class AttemptGuard:
    """What a start holds while its provider is asked; this one holds nothing."""

    def settle(self, code: str | None) -> None:
        """The attempt's outcome: a refusal's code, or None (completed, pending, or a fault)."""


NO_GUARD = AttemptGuard()


class PasswordGuard(AttemptGuard):
    def __init__(self, throttle: PersonThrottle, owner: str, username: str) -> None:
        self._throttle = throttle
        # PersonRateLimited here: nothing was sent, nothing is stored.
        self._taken = throttle.acquire(FAMILY, {"login": f"{owner}\x1f{identifiers.user_id(username)}"})

    def settle(self, code: str | None) -> None:
        if code != Code.INVALID_CREDENTIALS:
            self._throttle.release(self._taken)


def password_guard(owner: str, username: str) -> AttemptGuard:
    """Reserve one password attempt of this username through this API key, or refuse the start."""
    settings = get_settings()
    if not settings.limits_table:
        raise InternalUnavailable("The password-failure limit is not configured.")
    throttle = PersonThrottle(
        settings.limits_table,
        aws.client("dynamodb"),
        limit=settings.password_failure_limit,
        window=settings.password_failure_window_seconds,
    )
    return PasswordGuard(throttle, owner, username)
