from aws_lambda_powertools.event_handler import Response

from eid_broker import api, routes
from eid_broker.sessions import SessionOut

app = api.make_resolver()


@app.post(
    "/v1/sessions/<session_id>/erase",
    summary="Erase the personal data of a final session",
    operation_id="erase_session",
    tags=["sessions"],
    description="Removes identity, certificate, evidence and the provider's references (the eeID proof "
    "included); status, method, reference and timestamps stay. A pending session is 409.",
    responses=api.responses("The erased session", 404, 409, model=SessionOut),
)
def erase_session(session_id: api.SessionId) -> Response[SessionOut]:
    return api.json_response(api.session_service().erase(session_id, api.caller(app)).to_out())


lambda_handler = routes.api_handler(app)
