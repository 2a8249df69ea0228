"""What the token-based provider clients (eeID, MobbID, MOSIP) share: credentials and the cached token."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eid_broker.tokens import Token, TokenCache, with_token

if TYPE_CHECKING:
    import requests


class TokenClient:
    provider: str

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
