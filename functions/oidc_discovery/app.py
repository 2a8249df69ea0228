from typing import Any

from aws_lambda_powertools.event_handler import Response

from eid_broker import api
from eid_broker.oidc import web
from eid_broker.oidc.discovery import configuration
from eid_broker.oidc.web import public_handler
from eid_broker.wiring import default_signer

app = api.make_resolver()
CACHEABLE = {"Cache-Control": "public, max-age=300"}


@app.get(
    "/.well-known/openid-configuration",
    summary="OpenID Provider metadata (OpenID Connect Discovery 1.0)",
    operation_id="openid_configuration",
    tags=["oidc"],
    responses=web.documented({200: ("The provider's metadata", web.json_content())}),
)
def openid_configuration() -> Response[Any]:
    return api.json_response(configuration(), headers=CACHEABLE)


@app.get(
    "/oidc/jwks",
    summary="The public keys that sign ID tokens",
    operation_id="oidc_jwks",
    description="The current key and the next (or previous) one; `kid` is the key's RFC 7638 thumbprint.",
    tags=["oidc"],
    responses=web.documented({200: ("A JWK Set", web.json_content())}),
)
def jwks() -> Response[Any]:
    return api.json_response(default_signer().jwks(), headers=CACHEABLE)


lambda_handler = public_handler(app)
