"""The issuer's URLs: the configured OIDC issuer, or the API's own URL remembered from the request."""

from __future__ import annotations

import contextvars
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from eid_broker.config import get_settings

_base: contextvars.ContextVar[str] = contextvars.ContextVar("oidc_request_base", default="")


def remember_request(event: dict[str, Any]) -> None:
    """The API's own URL, for an issuer left unset (OIDC_ISSUER empty): `https://{domain}/{stage}`."""
    context = event.get("requestContext") or {}
    domain, stage = context.get("domainName") or "", context.get("stage") or ""
    _base.set(f"https://{domain}/{stage}" if domain else "")


def issuer() -> str:
    configured = get_settings().oidc_issuer
    return (configured or _base.get()).rstrip("/")


def endpoint(path: str) -> str:
    return f"{issuer()}{path}"


def secure_cookies() -> bool:
    return issuer().startswith("https://")


def with_params(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` added to its query (a registered redirect URI may have a query already)."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    joined = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))
