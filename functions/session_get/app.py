from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from eid_broker import api, routes
from eid_broker.sessions import SessionOut

app = api.make_resolver()


@app.get(
    "/v1/sessions/<session_id>",
    summary="Read a session's status and result",
    operation_id="get_session",
    tags=["sessions"],
    description="With `wait=N` (0-25) the answer comes as soon as the session is final, or after N s.",
    responses=api.responses("The session", 404, 422, model=SessionOut),
)
def get_session(
    session_id: api.SessionId,
    wait: Annotated[
        int,
        Query(
            ge=0,
            le=25,
            description="Long-poll: wait up to this many seconds for a pending session to become final.",
        ),
    ] = 0,
) -> Response[SessionOut]:
    session = api.session_service().read_waiting(session_id, api.caller(app), wait)
    return api.json_response(session.to_out())


lambda_handler = routes.api_handler(app)
