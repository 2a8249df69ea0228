"""`POST /oidc/token` and `/oidc/userinfo`: client authentication, the code exchange, the ID token.

Client authentication as registered: `client_secret_basic`, `client_secret_post` (secrets compared
in constant time, by keyed digest) or `private_key_jwt` (RFC 7523: a JWT signed with a key of the
client's JWKS, `iss` = `sub` = client_id, `aud` the token endpoint or the issuer, `exp` at most five
minutes ahead, `nbf` and `iat` not in the future, a `jti` used once). Errors as RFC 6749 §5.2.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from joserfc import jwt
from joserfc.errors import JoseError

from eid_broker.oidc.clients import KEY_JWT, Client, ClientService
from eid_broker.oidc.grant import GrantError, Grants
from eid_broker.oidc.issuer import endpoint, issuer
from eid_broker.oidc.jose import KmsSigner, client_keyset
from eid_broker.oidc.store import OidcStore

BEARER = "Bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300
CLOCK_SKEW = 30
ID_TOKEN_LIFETIME = 300


@dataclass
class OAuthError(Exception):
    error: str
    description: str
    status: int = 400
    basic_challenge: bool = False


def _invalid_client(description: str, basic: bool = False) -> OAuthError:
    return OAuthError("invalid_client", description, 401, basic)


class TokenEndpoint:
    def __init__(self, clients: ClientService, store: OidcStore, signer: KmsSigner) -> None:
        self.clients = clients
        self.store = store
        self.grants = Grants(store)
        self.signer = signer

    def authenticate(self, fields: dict[str, str], authorization: str | None) -> Client:
        basic = authorization is not None and authorization[:6].lower() == "basic "
        used = [
            name
            for name, present in (
                ("client_secret_basic", basic),
                ("client_secret_post", "client_secret" in fields),
                ("private_key_jwt", "client_assertion" in fields),
            )
            if present
        ]
        if len(used) != 1:
            raise _invalid_client("authenticate the client with exactly one method", basic)
        if used[0] == "client_secret_basic":
            client_id, secret = _basic(authorization or "")
        elif used[0] == "client_secret_post":
            client_id, secret = fields.get("client_id", ""), fields["client_secret"]
        else:
            return self._assertion(fields)
        client = self.clients.find(client_id)
        if fields.get("client_id", client_id) != client_id:
            raise _invalid_client("client_id differs from the authenticated client", basic)
        if (
            client is None
            or client.token_endpoint_auth_method != used[0]
            or not client.secret_matches(secret)
        ):
            raise _invalid_client("client authentication failed", basic)
        return client

    def _assertion(self, fields: dict[str, str]) -> Client:
        if fields.get("client_assertion_type") != ASSERTION_TYPE:
            raise _invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = fields["client_assertion"]
        # Which client's keys to verify with: the (not yet verified) issuer, checked after verification.
        client = self.clients.find(_unverified_issuer(assertion) or "")
        if client is None or client.token_endpoint_auth_method != KEY_JWT or not client.jwks:
            raise _invalid_client("client authentication failed")
        try:
            token = jwt.decode(assertion, client_keyset(client.jwks), algorithms=["RS256", "ES256"])
        except (JoseError, ValueError, TypeError):
            raise _invalid_client("the client assertion's signature does not verify") from None
        claims, now = token.claims, time.time()
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        expires = claims.get("exp")
        if claims.get("sub") != client.client_id or claims.get("iss") != client.client_id:
            raise _invalid_client("the assertion's iss and sub must be the client_id")
        if fields.get("client_id", client.client_id) != client.client_id:
            raise _invalid_client("client_id differs from the assertion's")
        if not {endpoint("/oidc/token"), issuer()} & {str(a) for a in audiences}:
            raise _invalid_client("the assertion's aud must be the token endpoint or the issuer")
        if not isinstance(expires, int | float) or expires <= now - CLOCK_SKEW:
            raise _invalid_client("the assertion has expired or has no exp")
        if expires > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
            raise _invalid_client("the assertion's exp is more than 5 minutes ahead")
        for name in ("nbf", "iat"):  # RFC 7523 §3: not before nbf; never issued in the future
            moment = claims.get(name, now)
            if not isinstance(moment, int | float) or isinstance(moment, bool) or moment > now + CLOCK_SKEW:
                raise _invalid_client(f"the assertion's {name} is not a time or is in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
            raise _invalid_client("the assertion needs a jti")
        key = f"jti#{client.client_id}#{jti}"
        if not self.store.put(key, {"seen": int(now)}, new=True, ttl=expires - now + 2 * CLOCK_SKEW):
            raise _invalid_client("the assertion's jti was used before")
        return client

    def exchange(self, fields: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client = self.authenticate(fields, authorization)
        if fields.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code is supported")
        code = fields.get("code")
        if not code:
            raise OAuthError("invalid_request", "code is required")
        try:
            redeemed = self.grants.redeem(
                code,
                client.client_id,
                fields.get("redirect_uri"),
                fields.get("code_verifier"),
                client.created_at,
            )
            access_token, lifetime = self.grants.bind_token(code, redeemed)
        except GrantError as refused:
            raise OAuthError("invalid_grant", str(refused)) from None
        now = int(time.time())
        claims = {
            "iss": issuer(),
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            **redeemed.authentication,
            **redeemed.claims,
        }
        if redeemed.nonce:
            claims["nonce"] = redeemed.nonce
        return {
            "access_token": access_token,
            "token_type": BEARER,
            "expires_in": lifetime,
            "id_token": self.signer.sign(claims),
            "scope": " ".join(redeemed.scope),
        }

    def userinfo(self, authorization: str | None, fields: dict[str, str]) -> dict[str, Any] | None:
        """The person's claims for a valid access token (Bearer header or form field), else None."""
        token = None
        if authorization and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        elif "access_token" in fields:
            token = fields["access_token"]
        grant = self.grants.token(token or "")
        client = self.clients.find(grant["client_id"]) if grant else None
        if grant is None or client is None or client.created_at != grant.get("client_created"):
            return None
        return dict(grant["claims"])


def _basic(authorization: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("unreadable Basic credentials", True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client("unreadable Basic credentials", True)
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _unverified_issuer(assertion: str) -> str | None:
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None
