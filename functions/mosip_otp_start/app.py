from eid_broker import api, routes
from eid_broker.methods import mosip

app = api.make_resolver()
routes.start_session(
    app,
    mosip.OTP_METHOD,
    mosip.MosipOtpStart,
    lambda body, owner: mosip.start_otp(body, owner=owner, sessions=api.session_service()),
    summary="Start a MOSIP OTP login",
    description="MOSIP sends the person an OTP; submit it to `POST /v1/sessions/{session_id}/otp`.",
)
lambda_handler = routes.api_handler(app)
