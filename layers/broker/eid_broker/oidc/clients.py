"""OIDC clients, registered per API key: `/v1/oidc-clients/{client_id}`.

A client secret is shown once and stored only as a keyed digest; after a rotation the previous
digest keeps working for 24 h. Secrets are compared in constant time.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eid_broker.config import get_settings, is_loopback_host
from eid_broker.errors import BrokerError, InvalidInput
from eid_broker.keys import keyed_digest
from eid_broker.oidc.catalog import OFFERS
from eid_broker.oidc.jose import public_jwks
from eid_broker.oidc.store import OidcStore
from eid_broker.sessions.models import iso, utcnow

CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{3,64}")
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
KEY_JWT = "private_key_jwt"  # the one method without a client secret


class ClientNotFound(BrokerError):
    status, code, title = 404, "CLIENT_NOT_FOUND", "OIDC client not found"


class ClientIdTaken(BrokerError):
    status, code, title = 409, "CLIENT_ID_TAKEN", "The client_id belongs to another API key"


def check_redirect_uri(uri: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    local = get_settings().webhook_allow_loopback and parts.scheme == "http"
    if len(uri) > 2000 or not uri.isascii() or any(c in uri for c in " \t\r\n"):
        raise ValueError("each must be an absolute URI of at most 2000 ASCII characters")
    if parts.fragment or "#" in uri:
        raise ValueError("must not have a fragment")
    if not parts.hostname or not (parts.scheme == "https" or (local and is_loopback_host(parts.hostname))):
        raise ValueError("each must be an absolute https:// URI (http:// only to loopback when local)")
    return uri


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_name: str = Field(min_length=1, max_length=128, examples=["Example Bank"])
    redirect_uris: list[str] = Field(
        min_length=1, max_length=10, examples=[["https://bank.example/oidc/callback"]]
    )
    methods: list[str] = Field(min_length=1, examples=[["dokobit-mobile-id", "dokobit-smart-id"]])
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"
    jwks: dict[str, Any] | None = Field(default=None, description="Public keys (RS256 or ES256).")

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        return [check_redirect_uri(uri) for uri in uris]

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: list[str]) -> list[str]:
        unknown = [m for m in methods if m not in OFFERS]
        if unknown:
            raise ValueError(f"each must be one of {', '.join(OFFERS)}")
        families = [OFFERS[m].family for m in methods]
        if len(set(families)) != len(families):
            raise ValueError("at most one method per family (Mobile-ID, Smart-ID, eeID, face, OTP)")
        return methods

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if jwks is None else public_jwks(jwks)

    @model_validator(mode="after")
    def _keys_for_jwt(self) -> ClientIn:
        if self.token_endpoint_auth_method == KEY_JWT and not self.jwks:
            raise ValueError("jwks: private_key_jwt needs the client's public keys")
        return self


class ClientOut(BaseModel):
    client_id: str
    client_name: str
    redirect_uris: list[str]
    methods: list[str]
    token_endpoint_auth_method: AuthMethod
    jwks: dict[str, Any] | None = None
    created_at: str
    updated_at: str
    client_secret: str | None = Field(default=None, description="Only in the answer that created it.")


class SecretOut(BaseModel):
    client_secret: str


class Deleted(BaseModel):
    client_id: str
    deleted: bool = True


class Client(ClientOut):
    owner: str
    secret_digest: str | None = None
    previous_secret_digest: str | None = None
    previous_secret_until: str | None = None

    def out(self, secret: str | None = None) -> ClientOut:
        fields = self.model_dump(include=set(ClientOut.model_fields) - {"client_secret"})
        return ClientOut(**fields, client_secret=secret)

    def secret_matches(self, secret: str) -> bool:
        given = _secret_digest(self.client_id, secret)
        ok = hmac.compare_digest(given, self.secret_digest or "")
        still = self.previous_secret_until is not None and self.previous_secret_until > iso(utcnow())
        old = hmac.compare_digest(given, self.previous_secret_digest or "")
        return ok or (still and old)


def _secret_digest(client_id: str, secret: str) -> str:
    return keyed_digest("oidc-client-secret", client_id, secret)


def _key(client_id: str) -> str:
    if not CLIENT_ID.fullmatch(client_id):
        raise ClientNotFound("No OIDC client with this id.")
    return f"client#{client_id}"


class ClientService:
    def __init__(self, store: OidcStore) -> None:
        self.store = store

    def find(self, client_id: str) -> Client | None:
        """The client, whoever owns it (the public routes), or None."""
        if not CLIENT_ID.fullmatch(client_id):
            return None
        item = self.store.get(_key(client_id))
        return Client.model_validate(item) if item else None

    def get(self, client_id: str, owner: str) -> Client:
        client = self.find(client_id)
        if client is None or client.owner != owner:
            raise ClientNotFound("No OIDC client with this id.")
        return client

    def put(self, client_id: str, body: ClientIn, owner: str) -> ClientOut:
        if not CLIENT_ID.fullmatch(client_id):
            raise InvalidInput(
                "client_id must be 3-64 characters [A-Za-z0-9._-].",
                errors=[{"field": "client_id", "message": "must be 3-64 characters [A-Za-z0-9._-]"}],
            )
        existing = self.find(client_id)
        if existing is not None and existing.owner != owner:
            raise ClientIdTaken("This client_id is registered by another API key.")
        now = iso(utcnow())
        fields = body.model_dump()
        secret = None
        if existing is None:
            client = Client(client_id=client_id, owner=owner, created_at=now, updated_at=now, **fields)
        else:
            client = existing.model_copy(update={**fields, "updated_at": now})
        if client.token_endpoint_auth_method == KEY_JWT:
            client = client.model_copy(update=dict.fromkeys(("secret_digest", "previous_secret_digest")))
        elif client.secret_digest is None:
            secret = secrets.token_urlsafe(48)
            client = client.model_copy(update={"secret_digest": _secret_digest(client_id, secret)})
        item = client.model_dump(exclude={"client_secret"})
        if existing is None:
            if not self.store.put(_key(client_id), item, new=True):
                raise ClientIdTaken("This client_id is registered by another API key.")
        elif not self.store.update(
            _key(client_id), {"owner": owner, "updated_at": existing.updated_at}, item
        ):
            raise ClientIdTaken("The client changed meanwhile or belongs to another API key; try again.")
        return client.out(secret)

    def delete(self, client_id: str, owner: str) -> Deleted:
        self.get(client_id, owner)
        # Conditional: another key may have registered the id again since the read.
        if not self.store.delete(_key(client_id), owner):
            raise ClientNotFound("No OIDC client with this id.")
        return Deleted(client_id=client_id)

    def rotate_secret(self, client_id: str, owner: str) -> SecretOut:
        client = self.get(client_id, owner)
        if client.token_endpoint_auth_method == KEY_JWT:
            raise InvalidInput(
                "A private_key_jwt client has no secret; change its jwks instead.",
                errors=[{"field": "token_endpoint_auth_method", "message": "has no secret to rotate"}],
            )
        secret = secrets.token_urlsafe(48)
        changes = {
            "secret_digest": _secret_digest(client_id, secret),
            "previous_secret_digest": client.secret_digest,
            "previous_secret_until": iso(utcnow() + PREVIOUS_SECRET_GRACE),
            "updated_at": iso(utcnow()),
        }
        if not self.store.update(_key(client_id), {"updated_at": client.updated_at}, changes):
            raise ClientIdTaken("The client changed meanwhile; try again.")
        return SecretOut(client_secret=secret)
