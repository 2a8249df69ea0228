from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths

from eid_broker import api
from eid_broker.methods import dokobit_mobile_id
from eid_broker.methods.mobile_id import MobileIdStart
from eid_broker.observability import logger
from eid_broker.sessions import SessionOut

app = api.make_resolver()


@app.post(
    "/v1/sessions/dokobit-mobile-id",
    summary="Start a Dokobit Mobile-ID login",
    description="Show `next_action.control_code` to the person, then read the session until it is final.",
    tags=["sessions"],
    responses={
        201: {
            "description": "Session started (or refused by Dokobit: status failed)",
            "content": {"application/json": {"model": SessionOut}},
        },
        **api.problem_responses(400, 409, 413, 415, 422, 503),
    },
)
def start(
    body: Annotated[MobileIdStart, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response[SessionOut]:
    owner = api.caller(app)
    record, replayed = api.idempotent_start(
        idempotency_key,
        owner=owner,
        method=dokobit_mobile_id.METHOD,
        payload=body.model_dump(),
        start=lambda: dokobit_mobile_id.start(body, owner=owner, sessions=api.session_service()),
        context=app.lambda_context,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return api.json_response(record.to_out(), 201, headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return api.resolve(app, event, context)
