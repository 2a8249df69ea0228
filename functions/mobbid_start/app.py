from eid_broker import api, routes
from eid_broker.methods import mobbid

app = api.make_resolver()
routes.start_session(
    app,
    mobbid.METHOD,
    mobbid.MobbidStart,
    lambda body, owner: mobbid.start(body, owner=owner, sessions=api.session_service()),
    summary="Start a MobbID face verification",
    description="Send the person to `next_action.url` (the MobbID gateway). The broker confirms the result "
    "with MobbID itself; the gateway's redirect back to `return_url` proves nothing.",
)
lambda_handler = routes.api_handler(app)
