from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from eid_broker import api, routes
from eid_broker.methods import eeid

app = api.make_resolver()


@app.get(
    "/v1/eeid/identifications",
    summary="List the caller's own eeID identification requests",
    operation_id="list_eeid_identifications",
    description="eeID's listing page, keeping only requests of sessions this API key started, with "
    "`{session_id, identification_request_id, status, completed_at, link_expires_at, claims_matched}` each "
    "(no personal data). A page may hold fewer than `page_size` items; `next_page` is null on the last page.",
    tags=["eeid"],
    responses=api.responses("`{page, page_size, next_page, items}`", 422),
)
def list_identifications(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response[dict[str, Any]]:
    return api.json_response(
        eeid.identifications(api.caller(app), page, page_size, sessions=api.session_service())
    )


lambda_handler = routes.api_handler(app)
