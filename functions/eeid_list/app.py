from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from eid_broker import api, routes
from eid_broker.methods import eeid

app = api.make_resolver()


@app.get(
    "/v1/eeid/identifications",
    summary="List the service's eeID identification requests (pass-through)",
    tags=["eeid"],
    responses={
        200: {"description": "eeID's page: `{page, page_size, total, items}`"},
        **api.problem_responses(422, 503),
    },
)
def list_identifications(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response[dict[str, Any]]:
    return Response(
        status_code=200, content_type="application/json", body=eeid.identifications(page, page_size)
    )


lambda_handler = routes.api_handler(app)
