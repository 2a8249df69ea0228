from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from eid_broker import api, routes
from eid_broker.sessions.service import SESSION_ID
from eid_broker.webhooks.models import DeliveryList, DeliveryQueued
from eid_broker.webhooks.service import default_webhooks

app = api.make_resolver()


@app.get(
    "/v1/webhook-deliveries",
    summary="This API key's webhook deliveries, newest first",
    operation_id="list_webhook_deliveries",
    description="At most 100; `session_id` keeps one session's.",
    tags=["webhooks"],
    responses=api.responses("The deliveries", 422, model=DeliveryList),
)
def list_deliveries(
    session_id: Annotated[str | None, Query(pattern=f"^{SESSION_ID.pattern}$")] = None,
) -> Response[DeliveryList]:
    return api.json_response(default_webhooks().deliveries(api.caller(app), session_id))


@app.post(
    "/v1/webhook-deliveries/<delivery_id>/redeliver",
    summary="Queue one more attempt of a delivery",
    operation_id="redeliver_webhook",
    tags=["webhooks"],
    responses=api.responses("Queued", 404, 409, model=DeliveryQueued, status=202),
)
def redeliver(
    delivery_id: Annotated[
        str, Path(description="A delivery id, `msg_…`.", examples=["msg_0193a1b2c3d4e5f6"])
    ],
) -> Response[DeliveryQueued]:
    return api.json_response(default_webhooks().redeliver(api.caller(app), delivery_id), 202)


lambda_handler = routes.api_handler(app)
