import base64

from aws_lambda_powertools.event_handler import Response

from eid_broker import api, aws, http, routes
from eid_broker.methods import eeid

app = api.make_resolver()


@app.post(
    "/eeid/webhooks/identification_requests",
    summary="eeID completion webhook (called by eeID, not by integrators)",
    operation_id="receive_eeid_webhook",
    description="Body `{identification_request_id, client_id, reference}` signed with `X-HMAC-Signature`: "
    "hex HMAC-SHA256 of the raw body keyed by the eeID client secret. No API key.",
    tags=["webhooks"],
    responses={204: {"description": "Acknowledged"}, **api.problem_responses(400, 401, 413)},
)
def identification_request_event() -> Response[None]:
    event = app.current_event
    raw = (
        base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    )
    eeid.record_webhook(raw, event.headers.get("x-hmac-signature"), sessions=api.session_service())
    return Response(status_code=204)


lambda_handler = routes.api_handler(app, guard=False)
aws.before_snapshot(api.session_service, http.shared_session, aws.secrets_provider)
