from eid_broker import api, routes
from eid_broker.methods import eeid

app = api.make_resolver()
routes.start_session(
    app,
    eeid.METHOD,
    eeid.EeidStart,
    lambda body, owner: eeid.start(body, owner=owner, sessions=api.session_service()),
    summary="Start an eeID identification request",
    description="Send the person to `next_action.url` (valid until `next_action.expires_at`). eeID's signed "
    "webhook completes the session; a sparse fallback poll does so if no webhook arrives.",
)
lambda_handler = routes.api_handler(app)
