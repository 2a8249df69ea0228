from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from eid_broker import api, routes
from eid_broker.oidc.clients import ClientIn, ClientOut, Deleted, SecretOut
from eid_broker.wiring import default_clients

app = api.make_resolver()
PATH = "/v1/oidc-clients/<client_id>"
ClientId = Annotated[str, Path(description="3-64 characters [A-Za-z0-9._-], unique in the deployment.")]


@app.put(
    PATH,
    summary="Create or change an OpenID Connect client",
    operation_id="put_oidc_client",
    description="`client_secret` is in the answer that created a secret-based client only (null afterwards). "
    "A client_id registered by another API key is 409.",
    tags=["oidc"],
    responses=api.responses("The client", 404, 409, 422, model=ClientOut, body=True),
)
def put_client(client_id: ClientId, body: Annotated[ClientIn, Body()]) -> Response[ClientOut]:
    return api.json_response(default_clients().put(client_id, body, api.caller(app)))


@app.get(
    PATH,
    summary="Read an OpenID Connect client (never its secret)",
    operation_id="get_oidc_client",
    tags=["oidc"],
    responses=api.responses("The client", 404, model=ClientOut),
)
def get_client(client_id: ClientId) -> Response[ClientOut]:
    return api.json_response(default_clients().get(client_id, api.caller(app)).out())


@app.delete(
    PATH,
    summary="Remove an OpenID Connect client",
    operation_id="delete_oidc_client",
    description="Its codes and access tokens stop working at once.",
    tags=["oidc"],
    responses=api.responses("Removed", 404, model=Deleted),
)
def delete_client(client_id: ClientId) -> Response[Deleted]:
    return api.json_response(default_clients().delete(client_id, api.caller(app)))


@app.post(
    f"{PATH}/rotate-secret",
    summary="Rotate the client secret",
    operation_id="rotate_oidc_client_secret",
    description="The previous secret keeps working for 24 h.",
    tags=["oidc"],
    responses=api.responses("The new secret", 404, 422, model=SecretOut),
)
def rotate_secret(client_id: ClientId) -> Response[SecretOut]:
    return api.json_response(default_clients().rotate_secret(client_id, api.caller(app)))


lambda_handler = routes.api_handler(app)
