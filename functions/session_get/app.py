from aws_lambda_powertools.event_handler import Response

from eid_broker import api, routes
from eid_broker.sessions import SessionOut

app = api.make_resolver()


@app.get(
    "/v1/sessions/<session_id>",
    summary="Read a session's status and result",
    operation_id="get_session",
    tags=["sessions"],
    responses=api.responses("The session", 404, model=SessionOut),
)
def get_session(session_id: api.SessionId) -> Response[SessionOut]:
    return api.json_response(api.session_service().read(session_id, api.caller(app)).to_out())


lambda_handler = routes.api_handler(app)
