"""Authorization codes and access tokens: issued once, redeemed once, revoked by a replay.

A code item keeps its redemption for as long as an access token may live, so that a second use of
the code (RFC 6749 §4.1.2: an attacker's or a replay) finds the token it produced and revokes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from eid_broker.config import get_settings
from eid_broker.oidc.store import OidcStore, secret_key
from eid_broker.oidc.transaction import LoginTransaction


class GrantError(Exception):
    """`invalid_grant` (400), with the reason for `error_description`."""


@dataclass(frozen=True)
class Redeemed:
    client_id: str
    client_created: str | None
    scope: list[str]
    claims: dict[str, Any]  # the person (sub, names, phone)
    authentication: dict[str, Any]  # acr, amr, auth_time, session_id
    nonce: str | None


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class Grants:
    def __init__(self, store: OidcStore) -> None:
        self.store = store

    def issue_code(
        self, transaction: LoginTransaction, claims: dict[str, Any], authentication: dict[str, Any]
    ) -> str:
        settings = get_settings()
        code = secrets.token_urlsafe(32)
        item = {
            "client_id": transaction.client_id,
            "client_created": transaction.client_created,
            "redirect_uri": transaction.redirect_uri,
            "code_challenge": transaction.code_challenge,
            "nonce": transaction.nonce,
            "scope": transaction.scope,
            "claims": claims,
            "authentication": authentication,
            "expires": time.time() + settings.oidc_code_ttl_seconds,
            "used": False,
            "replayed": False,
        }
        ttl = max(settings.oidc_code_ttl_seconds, settings.oidc_token_ttl_seconds) + 60
        self.store.put(secret_key("code", code), item, new=True, ttl=ttl)
        return code

    def redeem(
        self,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        verifier: str | None,
        client_created: str | None = None,
    ) -> Redeemed:
        """Check the code for this client; on success mark it used (exactly once) and answer its grant.
        The access token is bound to the code by `bind_token` right after."""
        if not code or len(code) > 128:
            raise GrantError("the code is unknown")
        key = secret_key("code", code)
        item = self.store.get(key)
        if item is None:
            raise GrantError("the code is unknown or expired")
        if item.get("used"):
            self.replayed(key, item)
            raise GrantError("the code was already used; the access token issued for it is revoked")
        if item["client_id"] != client_id or item.get("client_created") != client_created:
            raise GrantError("the code was issued to another client")
        if item["expires"] <= time.time():
            raise GrantError("the code has expired")
        if redirect_uri != item["redirect_uri"]:
            raise GrantError("redirect_uri differs from the authorization request's")
        challenge = item.get("code_challenge")
        if challenge is None and verifier is not None:
            raise GrantError("code_verifier sent, but the authorization request had no code_challenge")
        if challenge is not None:
            if verifier is None:
                raise GrantError("code_verifier is required")
            ok = 43 <= len(verifier) <= 128 and verifier.isascii()
            if not ok or not hmac.compare_digest(pkce_s256(verifier), challenge):
                raise GrantError("code_verifier does not match the code_challenge")
        if not self.store.update(key, {"used": False}, {"used": True}):
            self.replayed(key, self.store.get(key) or {})
            raise GrantError("the code was already used; the access token issued for it is revoked")
        return Redeemed(
            client_id=client_id,
            client_created=client_created,
            scope=list(item["scope"]),
            claims=item["claims"],
            authentication=item["authentication"],
            nonce=item.get("nonce"),
        )

    def bind_token(self, code: str, redeemed: Redeemed) -> tuple[str, int]:
        """A new access token for the redeemed code, recorded on the code so a replay revokes it."""
        lifetime = get_settings().oidc_token_ttl_seconds
        token = secrets.token_urlsafe(32)
        token_key = secret_key("token", token)
        item = {
            "client_id": redeemed.client_id,
            "client_created": redeemed.client_created,
            "claims": redeemed.claims,
            "scope": redeemed.scope,
            "expires": time.time() + lifetime,
        }
        self.store.put(token_key, item, ttl=lifetime)
        bound = {"used": True, "replayed": False}
        if not self.store.update(secret_key("code", code), bound, {"token_key": token_key}):
            self.store.delete(token_key)
            raise GrantError("the code is no longer valid")
        return token, lifetime

    def replayed(self, key: str, code_item: dict[str, Any]) -> None:
        """A used code came again: mark it (so a token not yet bound never will be) and revoke its token."""
        self.store.update(key, {}, {"replayed": True})
        token_key = code_item.get("token_key") or (self.store.get(key) or {}).get("token_key")
        if token_key:
            self.store.delete(str(token_key))

    def token(self, token: str) -> dict[str, Any] | None:
        """The access token's grant while it is valid, else None."""
        if not token or len(token) > 128:
            return None
        item = self.store.get(secret_key("token", token))
        if item is None or item["expires"] <= time.time():
            return None
        return item
