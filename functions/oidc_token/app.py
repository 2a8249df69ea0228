import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from eid_broker import api
from eid_broker.oidc import web
from eid_broker.oidc.token import OAuthError, TokenEndpoint
from eid_broker.wiring import default_clients, default_signer, default_store

app = api.make_resolver()
TOKENS = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "id_token", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
        "id_token": {"type": "string"},
        "scope": {"type": "string"},
    },
}
REFUSED_BEARER = 'Bad, expired or revoked token (WWW-Authenticate: Bearer error="invalid_token")'


def _endpoint() -> TokenEndpoint:
    return TokenEndpoint(default_clients(), default_store(), default_signer())


def _authorization() -> str | None:
    headers = {k.lower(): v for k, v in (app.current_event.headers or {}).items()}
    return headers.get("authorization")


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status, "application/json", json.dumps(body), {**web.NO_STORE, **(headers or {})})


@app.post(
    "/oidc/token",
    summary="Exchange an authorization code for an ID token and an access token",
    operation_id="oidc_token",
    description="application/x-www-form-urlencoded: grant_type=authorization_code, code, redirect_uri, "
    "code_verifier (PKCE), and the client's authentication as registered. Errors as RFC 6749 §5.2.",
    tags=["oidc"],
    responses=web.documented(
        {
            200: ("The tokens (Cache-Control: no-store)", web.json_content(TOKENS)),
            400: ("invalid_grant, invalid_request or unsupported_grant_type", web.OAUTH_ERROR),
            401: ("invalid_client", web.OAUTH_ERROR),
        }
    ),
)
def token() -> Response[Any]:
    if not web.is_form(app):
        refusal = {"error": "invalid_request", "error_description": "send application/x-www-form-urlencoded"}
        return _json(refusal, 400)
    try:
        return _json(_endpoint().exchange(web.form(app), _authorization()))
    except OAuthError as refused:
        headers = {"WWW-Authenticate": 'Basic realm="oidc"'} if refused.basic_challenge else None
        body = {"error": refused.error, "error_description": refused.description}
        return _json(body, refused.status, headers)


def _userinfo() -> Response[Any]:
    fields = web.form(app) if web.is_form(app) else {}
    claims = _endpoint().userinfo(_authorization(), fields)
    if claims is None:
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        body = {
            "error": "invalid_token",
            "error_description": "the access token is invalid, expired or revoked",
        }
        return _json(body, 401, challenge)
    return _json(claims)


USERINFO: dict[str, Any] = {
    "summary": "The person's claims for an access token (Authorization: Bearer)",
    "tags": ["oidc"],
    "responses": web.documented(
        {200: ("The person's claims", web.json_content()), 401: (REFUSED_BEARER, web.OAUTH_ERROR)}
    ),
}


@app.get("/oidc/userinfo", operation_id="oidc_userinfo_get", **USERINFO)
def userinfo_get() -> Response[Any]:
    return _userinfo()


@app.post("/oidc/userinfo", operation_id="oidc_userinfo_post", **USERINFO)
def userinfo_post() -> Response[Any]:
    return _userinfo()


lambda_handler = web.public_handler(app)
