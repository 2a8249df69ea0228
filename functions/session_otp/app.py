from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from eid_broker import api, routes
from eid_broker.methods import mosip
from eid_broker.sessions import SessionWithCredentials

app = api.make_resolver()


@app.post(
    "/v1/sessions/<session_id>/otp",
    summary="Submit the OTP of a pending mosip-otp session",
    operation_id="submit_otp",
    description="Right → completed, with the MOSIP token in `credentials` (once). Wrong → still pending with "
    "one attempt less; the third wrong one fails the session. Past the OTP's lifetime → expired.",
    tags=["sessions"],
    responses=api.responses("The session", 404, 409, body=True, model=SessionWithCredentials),
)
def submit_otp(
    session_id: api.SessionId, submission: Annotated[mosip.OtpSubmission, Body()]
) -> Response[SessionWithCredentials]:
    record, credentials = mosip.submit_otp(
        session_id, api.caller(app), submission, sessions=api.session_service()
    )
    return api.json_response(routes.with_credentials(record, credentials))


lambda_handler = routes.api_handler(app)
