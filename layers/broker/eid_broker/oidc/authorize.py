"""`GET /oidc/authorize`: the authorization request, checked as OpenID Connect Core and RFC 7636 say.

An unknown client or a redirect URI it did not register is shown on an error page and never
redirected to (an open redirect otherwise); every other error goes back to the relying party with
`error`, `error_description`, `state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from eid_broker.oidc.catalog import ACR_LEVELS, FAMILY_SCOPES, OFFERS, meets
from eid_broker.oidc.clients import Client, ClientService
from eid_broker.oidc.hints import face_offered
from eid_broker.oidc.i18n import choose_locale
from eid_broker.oidc.issuer import issuer, with_params

STATE = re.compile(r"[\x20-\x7e]{1,512}")
CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
SINGLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "acr_values",
    "ui_locales",
    "login_hint",
    "prompt",
    "response_mode",
)


class PageError(Exception):
    """Shown to the person on the broker's own error page (400); nothing is redirected."""


@dataclass
class Redirected(Exception):
    """An error the relying party gets at its redirect URI."""

    location: str


@dataclass
class AuthRequest:
    client: Client
    redirect_uri: str
    state: str
    scope: list[str]
    nonce: str | None
    code_challenge: str | None
    acr: str | None
    locale: str
    login_hint: str | None
    offers: list[str] = field(default_factory=list)


def error_location(redirect_uri: str, error: str, description: str, state: str | None) -> str:
    params = {"error": error, "error_description": description}
    if state:
        params["state"] = state
    params["iss"] = issuer()
    return with_params(redirect_uri, params)


def still_registered(clients: ClientService, client_id: str, created: str | None, redirect_uri: str) -> bool:
    """The login's client (the same registration) still has its redirect URI: checked again before
    the page redirects, so a client deleted or a URI removed meanwhile is never redirected to."""
    client = clients.find(client_id)
    return client is not None and client.created_at == created and redirect_uri in client.redirect_uris


def parse(
    clients: ClientService,
    params: dict[str, list[str]],
    accept_language: str | None,
) -> AuthRequest:
    """The request, or PageError / Redirected."""
    first = {name: values[0] for name, values in params.items() if values}
    client = clients.find(first.get("client_id", ""))
    if client is None or len(params.get("client_id", [])) != 1:
        raise PageError("unknown_client")
    redirect_uri = first.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris or len(params.get("redirect_uri", [])) != 1:
        raise PageError("unknown_redirect_uri")
    state = first.get("state")
    state = state if state is not None and STATE.fullmatch(state) and len(params["state"]) == 1 else None

    def fail(error: str, description: str) -> Redirected:
        return Redirected(error_location(redirect_uri, error, description, state))

    repeated = [name for name in SINGLE if len(params.get(name, [])) > 1]
    if repeated:
        raise fail("invalid_request", f"{repeated[0]} is repeated")
    if "request" in params:
        raise fail("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported")
    if first.get("response_mode", "query") != "query":
        raise fail("invalid_request", "response_mode must be query")
    if first.get("response_type") != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    if state is None:
        raise fail("invalid_request", "state is required: 1-512 printable ASCII characters")
    scope = first.get("scope", "").split()
    if "openid" not in scope:
        raise fail("invalid_scope", "scope must contain openid")
    nonce = first.get("nonce")
    if nonce is not None and (len(nonce) > 512 or not nonce):
        raise fail("invalid_request", "nonce must be 1-512 characters")
    challenge, method = first.get("code_challenge"), first.get("code_challenge_method")
    if method is not None and method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if challenge is not None and not CHALLENGE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be 43-128 characters of the PKCE alphabet")
    if challenge is None and method is not None:
        raise fail("invalid_request", "code_challenge_method without code_challenge")
    if challenge is not None and method is None:
        raise fail("invalid_request", "code_challenge_method must be S256 (plain is not supported)")
    prompts = set(first.get("prompt", "").split())
    if prompts - PROMPTS or ("none" in prompts and len(prompts) > 1):
        raise fail("invalid_request", "prompt must be none, login, consent or select_account")
    if "none" in prompts:
        raise fail("login_required", "the broker keeps no login sessions: the person must log in")
    wanted = [level for level in first.get("acr_values", "").split() if level in ACR_LEVELS]
    acr = min(wanted, key=ACR_LEVELS.index) if wanted else None
    families = [s for s in scope if s in FAMILY_SCOPES]
    hint = first.get("login_hint")
    hint = hint if hint and len(hint) <= 64 and hint.isascii() and hint.isprintable() else None
    offers = [
        method
        for method in client.methods
        if (not families or OFFERS[method].family in families)
        and (acr is None or meets(OFFERS[method].acr, acr))
        and (OFFERS[method].family != "face" or face_offered(hint))  # whose face, the RP must say
    ]
    if not offers:
        raise fail("unmet_authentication_requirements", "no method meets the scope and acr_values asked for")
    return AuthRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scope=scope,
        nonce=nonce,
        code_challenge=challenge,
        acr=acr,
        locale=choose_locale(first.get("ui_locales"), accept_language),
        login_hint=hint,
        offers=offers,
    )
