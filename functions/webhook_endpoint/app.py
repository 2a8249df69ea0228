from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from eid_broker import api, routes
from eid_broker.webhooks.models import Deleted, DeliveryQueued, EndpointIn, EndpointOut, SecretOut
from eid_broker.wiring import endpoints

app = api.make_resolver()
PATH = "/v1/webhook-endpoint"


@app.put(
    PATH,
    summary="Create or change this API key's webhook endpoint",
    operation_id="put_webhook_endpoint",
    description="`secret` is in the answer that created the endpoint only (null afterwards). A URL that is "
    "not https, or whose host resolves to a loopback, private, link-local or metadata address, is 422.",
    tags=["webhooks"],
    responses=api.responses("The endpoint", 422, model=EndpointOut, body=True),
)
def put_endpoint(body: Annotated[EndpointIn, Body()]) -> Response[EndpointOut]:
    return api.json_response(endpoints().put_endpoint(api.caller(app), body.url))


@app.get(
    PATH,
    summary="Read this API key's webhook endpoint",
    operation_id="get_webhook_endpoint",
    tags=["webhooks"],
    responses=api.responses("The endpoint (never its secret)", 404, model=EndpointOut),
)
def get_endpoint() -> Response[EndpointOut]:
    return api.json_response(endpoints().endpoint(api.caller(app)))


@app.delete(
    PATH,
    summary="Remove this API key's webhook endpoint",
    operation_id="delete_webhook_endpoint",
    description="No more deliveries are made, queued retries included.",
    tags=["webhooks"],
    responses=api.responses("Removed", 404, model=Deleted),
)
def delete_endpoint() -> Response[Deleted]:
    return api.json_response(endpoints().delete_endpoint(api.caller(app)))


@app.post(
    f"{PATH}/rotate-secret",
    summary="Rotate the signing secret",
    operation_id="rotate_webhook_secret",
    description="For 24 h both the new and the previous secret sign every delivery.",
    tags=["webhooks"],
    responses=api.responses("The new secret", 404, model=SecretOut),
)
def rotate_secret() -> Response[SecretOut]:
    return api.json_response(endpoints().rotate_secret(api.caller(app)))


@app.post(
    f"{PATH}/test",
    summary="Send a webhook.test event now",
    operation_id="test_webhook_endpoint",
    description="Counts against the API key's manual webhook calls (with redeliver): beyond "
    "WEBHOOK_MANUAL_LIMIT per 60 s it is 429 `RATE_LIMITED` with `Retry-After`, and nothing is queued.",
    tags=["webhooks"],
    responses=api.responses("Queued", 404, 409, 429, model=DeliveryQueued, status=202),
)
def send_test() -> Response[DeliveryQueued]:
    return api.json_response(endpoints().send_test(api.caller(app)), 202)


lambda_handler = routes.api_handler(app)
