"""What provider clients share: the answer types of the control-code logins (Mobile-ID), and the
credentials and cached token of the token-based clients (eeID, MobbID, MOSIP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ValidationError

from eid_broker.aws import provider_credentials
from eid_broker.certificates import Certificate
from eid_broker.config import ProviderSettings, get_settings
from eid_broker.errors import ProviderBadResponse
from eid_broker.http import shared_session
from eid_broker.observability import logger
from eid_broker.tokens import Token, TokenCache, shared_cache, with_token

if TYPE_CHECKING:
    import requests


def null_as_no_list(value: Any) -> Any:
    """A "before" field validator: an optional list that a provider sends as null is empty, as if left out."""
    return [] if value is None else value


def null_as_no_object(value: Any) -> Any:
    """A "before" field validator: an optional object sent as null is read as if it were left out."""
    return {} if value is None else value


def unreadable(provider: str, message: str, exc: Exception) -> ProviderBadResponse:
    """The fault for an answer the broker cannot read, logged with what failed: each field's path and
    the rule it broke (pydantic's loc and type), never the value."""
    violations = (
        [{"field": ".".join(map(str, e["loc"])) or "(body)", "rule": e["type"]} for e in exc.errors()]
        if isinstance(exc, ValidationError)
        else [{"field": "(body)", "rule": type(exc).__name__}]
    )
    logger.warning("provider answer unreadable", extra={"provider": provider, "violations": violations[:10]})
    return ProviderBadResponse(message)


class LoginStarted(BaseModel):
    token: str
    control_code: str


class ConfirmedPerson(BaseModel):
    """A confirmed control-code login, as any Mobile-ID provider reports it."""

    country: str
    code: str
    name: str | None = None
    surname: str | None = None
    certificate: Certificate | None = None
    evidence: dict[str, Any] = {}


def confirmed_person(
    provider: str, answer: Any, certificate: Certificate | None, evidence: dict[str, Any] | None = None
) -> ConfirmedPerson:
    """The person of a provider's ok answer (`country`, `code`, `name`, `surname`), which must at least
    say who it is."""
    if not answer.country or not answer.code:
        raise ProviderBadResponse(f"{provider}'s ok answer lacks the person's country or code.")
    return ConfirmedPerson(
        country=answer.country,
        code=answer.code,
        name=answer.name,
        surname=answer.surname,
        certificate=certificate,
        evidence=evidence or {},
    )


class TokenClient:
    provider: str
    settings_model: ClassVar[type[ProviderSettings]]
    credential_keys: ClassVar[tuple[str, str]]  # the secret's keys of the client id and its secret

    def __init__(
        self,
        base_url: str,
        client_id: str,
        secret: str,
        http: requests.Session,
        tokens: TokenCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = secret
        self._http = http
        self._tokens = tokens
        self._clock = clock

    @classmethod
    def configured(cls, *args: Any) -> Self:
        """The client as this function's settings and the provider's secret configure it."""
        settings = get_settings().provider(cls.settings_model)
        secret = provider_credentials(settings, *cls.credential_keys)
        client_id, key = (secret[name] for name in cls.credential_keys)
        # A subclass may take its own settings (`args`) between the credentials and the HTTP session.
        arguments: tuple[Any, ...] = (
            settings.base_url or "",
            client_id,
            key,
            *args,
            shared_session(),
            shared_cache(),
        )
        return cls(*arguments)

    @property
    def _token_key(self) -> str:
        return f"{self.provider}:{self._client_id}"

    def _fetch_token(self) -> Token:
        """Ask the provider for a new token (called only by the cache's one refresher)."""
        raise NotImplementedError

    def _token(self) -> str:
        return self._tokens.get(self._token_key, self._fetch_token)

    def _with_token(self, call: Callable[[str], Any], refused: Callable[[], Exception]) -> Any:
        """`call` with the cached token; a 401 drops it, refreshes once and retries once."""
        return with_token(self._tokens, self._token_key, self._fetch_token, call, refused)
