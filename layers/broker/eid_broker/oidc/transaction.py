"""A login transaction: one authorization request on its way through the hosted page.

Its id is a 256-bit random value that lives only in the person's cookie (`HttpOnly`, `SameSite=Lax`);
the table keys it by a keyed digest. Every form carries an anti-forgery token derived from the id, so
a page on another site can neither post to it nor read the token. It lasts at most 10 minutes and
ends at the first completion (one code per completion), at a return to the relying party, or by TTL.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Literal

from pydantic import BaseModel

from eid_broker.keys import keyed_digest
from eid_broker.oidc.authorize import AuthRequest
from eid_broker.oidc.issuer import secure_cookies
from eid_broker.oidc.store import OidcStore, secret_key

LIFETIME_SECONDS = 600
POLL_MARGIN_SECONDS = 5  # a long-poll slot outlives its wait, so one whose read died frees itself
COOKIE = "eidb_login"
Step = Literal["choose", "identify", "starting", "wait", "done"]


class LoginTransaction(BaseModel):
    client_id: str
    # The client's registration time: a client deleted and registered again is another client.
    client_created: str | None = None
    owner: str
    redirect_uri: str
    state: str
    scope: list[str]
    nonce: str | None = None
    code_challenge: str | None = None
    acr: str | None = None
    locale: str = "en"
    login_hint: str | None = None
    offers: list[str]
    step: Step
    method: str | None = None
    session_id: str | None = None
    phone: str | None = None  # only with the `phone` scope, for the phone_number claim
    started: int  # epoch seconds
    version: int = 0


def cookie_name() -> str:
    """`__Host-` when Secure (deployed): no sibling subdomain or plain-http page can set or shadow it."""
    return f"__Host-{COOKIE}" if secure_cookies() else COOKIE


def csrf_token(transaction_id: str) -> str:
    return keyed_digest("oidc-csrf", transaction_id)


def csrf_ok(transaction_id: str, given: str | None) -> bool:
    return hmac.compare_digest(csrf_token(transaction_id), given or "")


class Transactions:
    def __init__(self, store: OidcStore) -> None:
        self.store = store

    def open(self, request: AuthRequest) -> tuple[str, LoginTransaction]:
        single = len(request.offers) == 1
        transaction = LoginTransaction(
            client_id=request.client.client_id,
            client_created=request.client.created_at,
            owner=request.client.owner,
            redirect_uri=request.redirect_uri,
            state=request.state,
            scope=request.scope,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            acr=request.acr,
            locale=request.locale,
            login_hint=request.login_hint,
            offers=request.offers,
            step="identify" if single else "choose",
            method=request.offers[0] if single else None,
            started=int(time.time()),
        )
        transaction_id = secrets.token_urlsafe(32)
        self.store.put(
            secret_key("login", transaction_id), transaction.model_dump(), new=True, ttl=LIFETIME_SECONDS
        )
        return transaction_id, transaction

    def load(self, transaction_id: str | None) -> LoginTransaction | None:
        if not transaction_id or len(transaction_id) > 64:
            return None
        item = self.store.get(secret_key("login", transaction_id))
        if item is None:
            return None
        item.pop("pk", None)
        item.pop("ttl", None)
        return LoginTransaction.model_validate(item)

    def advance(
        self, transaction_id: str, transaction: LoginTransaction, **changes: object
    ) -> LoginTransaction | None:
        """The transaction with `changes`, if nobody else changed it since it was read (None then)."""
        updated = {**changes, "version": transaction.version + 1}
        key = secret_key("login", transaction_id)
        if not self.store.update(key, {"version": transaction.version}, updated):
            return None
        return transaction.model_copy(update=updated)

    def hold_poll(self, transaction_id: str, seconds: float) -> int | None:
        """The transaction's one long-poll slot for `seconds`: its end, or None while another holds it."""
        now = int(time.time())
        until = now + int(seconds) + 1 + POLL_MARGIN_SECONDS
        held = self.store.hold(secret_key("login", transaction_id), "poll_until", until, now)
        return until if held else None

    def release_poll(self, transaction_id: str, until: int) -> None:
        self.store.update(secret_key("login", transaction_id), {"poll_until": until}, {"poll_until": 0})

    def end(self, transaction_id: str) -> None:
        self.store.delete(secret_key("login", transaction_id))
