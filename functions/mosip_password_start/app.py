from eid_broker import api, routes
from eid_broker.methods import mosip

app = api.make_resolver()
routes.start_session(
    app,
    mosip.PASSWORD_METHOD,
    mosip.MosipPasswordStart,
    lambda body, owner: mosip.start_password(body, owner=owner, sessions=api.session_service()),
    summary="Log in to MOSIP with user name and password",
    description="Completes or fails at once. A completed session's response carries the MOSIP token in "
    "`credentials`, once: the broker never stores it and never returns it again.",
    hands_credentials=True,
)
lambda_handler = routes.api_handler(app)
