from aws_lambda_powertools.event_handler import Response

from eid_broker import api, routes
from eid_broker.sessions import SessionOut

app = api.make_resolver()


@app.delete(
    "/v1/sessions/<session_id>",
    summary="Cancel a pending session",
    operation_id="cancel_session",
    description="Polling stops at the next poll at the latest. Cancelling a cancelled session is 200 again.",
    tags=["sessions"],
    responses=api.responses("The cancelled session", 404, 409, model=SessionOut),
)
def cancel_session(session_id: api.SessionId) -> Response[SessionOut]:
    return api.json_response(api.session_service().cancel(session_id, api.caller(app)).to_out())


lambda_handler = routes.api_handler(app)
