from eid_broker import api, routes
from eid_broker.methods.marksign_mobile_id import METHOD
from eid_broker.methods.mobile_id import MobileIdStart

app = api.make_resolver()
routes.start_session(
    app,
    METHOD.name,
    MobileIdStart,
    lambda body, owner: METHOD.start(body, owner=owner, sessions=api.session_service()),
    summary="Start a MarkSign mobile-ID login",
    description="Show `next_action.control_code` to the person, then read the session until it is final. "
    "A completed identity carries MarkSign's `sanctions` and `peps` data in `evidence`.",
)
lambda_handler = routes.api_handler(app)
