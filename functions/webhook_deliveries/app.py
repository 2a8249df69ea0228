from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from eid_broker import api, routes
from eid_broker.sessions.models import SESSION_ID
from eid_broker.webhooks.deliveries import DEFAULT_PAGE, MAX_PAGE
from eid_broker.webhooks.models import DeliveryList, DeliveryQueued
from eid_broker.wiring import deliveries

app = api.make_resolver()


@app.get(
    "/v1/webhook-deliveries",
    summary="This API key's webhook deliveries, newest first, one page at a time",
    operation_id="list_webhook_deliveries",
    description="At most `limit` (1-100, default 50) per page; `session_id` keeps one session's. An answer "
    "with `next_cursor` has more: pass it as `cursor` (with the same `session_id`) for the next, older page. "
    "A cursor of another API key or another filter is 422 naming `cursor`. A page filtered by `session_id` "
    "may hold fewer items than `limit` and still have a `next_cursor`.",
    tags=["webhooks"],
    responses=api.responses("The deliveries", 422, model=DeliveryList),
)
def list_deliveries(
    session_id: Annotated[str | None, Query(pattern=f"^{SESSION_ID.pattern}$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
) -> Response[DeliveryList]:
    page = deliveries().deliveries(api.caller(app), session_id, limit=limit, cursor=cursor)
    return api.json_response(page)


@app.post(
    "/v1/webhook-deliveries/<delivery_id>/redeliver",
    summary="Queue one more attempt of a delivery",
    operation_id="redeliver_webhook",
    tags=["webhooks"],
    description="Counts against the API key's manual webhook calls (with the endpoint's `test`): "
    "beyond WEBHOOK_MANUAL_LIMIT per 60 s it is 429 `RATE_LIMITED` with `Retry-After`; nothing is queued.",
    responses=api.responses("Queued", 404, 409, 429, model=DeliveryQueued, status=202),
)
def redeliver(
    delivery_id: Annotated[
        str, Path(description="A delivery id, `msg_…`.", examples=["msg_0193a1b2c3d4e5f6"])
    ],
) -> Response[DeliveryQueued]:
    return api.json_response(deliveries().redeliver(api.caller(app), delivery_id), 202)


lambda_handler = routes.api_handler(app)
