from aws_lambda_powertools.event_handler import Response

from eid_broker import api, routes
from eid_broker.methods import eeid

app = api.make_resolver()


@app.get(
    "/v1/sessions/<session_id>/proof",
    summary="Download the eeID proof-of-identity PDF of a completed eeid session",
    operation_id="get_proof",
    tags=["sessions"],
    responses={
        200: {
            "description": "The proof of identity",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        **api.problem_responses(404, 409, 410),
    },
)
def get_proof(session_id: api.SessionId):
    pdf = eeid.proof(session_id, api.caller(app), sessions=api.session_service())
    return Response(status_code=200, content_type="application/pdf", body=pdf)


lambda_handler = routes.api_handler(app)
