"""HTTP for the public OIDC routes: the issuer, forms, cookies, redirects and the pages' headers."""

from __future__ import annotations

import base64
import contextlib
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from eid_broker import api, routes
from eid_broker.oidc.issuer import remember_request, secure_cookies

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

# Pages may load their own stylesheet and script only; nothing may frame them (clickjacking).
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self' {actions}; frame-ancestors 'none'; base-uri 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def form(app: APIGatewayRestResolver) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the first value of each field)."""
    event = app.current_event
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def query(app: APIGatewayRestResolver) -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


def is_form(app: APIGatewayRestResolver) -> bool:
    content_type = (app.current_event.headers or {}).get("content-type") or ""
    headers = {k.lower(): v for k, v in (app.current_event.headers or {}).items()}
    content_type = headers.get("content-type", content_type)
    return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def cookie(app: APIGatewayRestResolver, name: str) -> str | None:
    headers = app.current_event.multi_value_headers or {}
    values = [v for key, vs in headers.items() if key.lower() == "cookie" for v in vs]
    for value in values:
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(Exception):  # an unreadable cookie header is no cookie
            jar.load(value)
        if name in jar:
            return jar[name].value
    return None


def set_cookie(name: str, value: str, *, max_age: int, path: str = "/") -> str:
    attributes = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure_cookies():
        attributes.append("Secure")
    return "; ".join(attributes)


def page_headers(redirect_uri: str | None = None) -> dict[str, str]:
    origin = ""
    if redirect_uri:
        parts = urlsplit(redirect_uri)
        origin = f"{parts.scheme}://{parts.netloc}"
    return {
        **NO_STORE,
        "Content-Security-Policy": CSP.format(actions=origin).replace("  ", " "),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def html(
    body: str, status: int = 200, *, cookies: list[str] | None = None, redirect_uri: str | None = None
) -> Response[str]:
    headers: dict[str, str | list[str]] = {**page_headers(redirect_uri)}
    if cookies:
        headers["Set-Cookie"] = cookies
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=headers)


def redirect(location: str, *, cookies: list[str] | None = None, status: int = 303) -> Response[str]:
    headers: dict[str, str | list[str]] = {**page_headers(), "Location": location}
    if cookies:
        headers["Set-Cookie"] = cookies
    return Response(status_code=status, content_type="text/plain; charset=utf-8", body="", headers=headers)


def public_handler(app: APIGatewayRestResolver) -> Any:
    """The Lambda of a public OIDC function: no JSON body guard (forms), the request's URL remembered."""
    inner = routes.api_handler(app, guard=False)

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        remember_request(event)
        return inner(event, context)

    return lambda_handler


HTML = {"text/html; charset=utf-8": {"schema": {"type": "string"}}}
PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}
EMPTY = {"text/plain; charset=utf-8": {"schema": {"type": "string", "maxLength": 0}}}
OAUTH_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
        }
    }
}


def json_content(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"application/json": {"schema": schema or {"type": "object"}}}


def documented(answers: dict[int, tuple[str, dict[str, Any]]]) -> dict[int, OpenAPIResponse]:
    """A public route's answers (status: description, content by type), plus what any route may
    answer as problem+json (API Gateway's refusals, an AWS service that did not answer)."""
    merged: dict[int, OpenAPIResponse] = dict(api.problem_responses())
    for status, (description, content) in answers.items():
        problem = merged.get(status, {}).get("content", {})
        merged[status] = {"description": description, "content": {**problem, **content}}
    return merged
