from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from eid_broker import api, routes
from eid_broker import mosip_passthrough as mosip

app = api.make_resolver()


@app.post(
    "/v1/mosip/tokens/validate",
    summary="Validate a MOSIP auth token",
    operation_id="validate_mosip_token",
    description="Answers `{valid, user_id, roles}`; the token is sent to MOSIP as the Authorization cookie.",
    tags=["mosip"],
    responses=api.responses("Validity", body=True),
)
def validate(body: Annotated[mosip.TokenBody, Body()]) -> Response[dict[str, Any]]:
    return api.json_response(mosip.validate_token(body.token))


@app.post(
    "/v1/mosip/tokens/invalidate",
    summary="Invalidate (log out) a MOSIP auth token",
    operation_id="invalidate_mosip_token",
    tags=["mosip"],
    responses=api.responses("Invalidated", body=True),
)
def invalidate(body: Annotated[mosip.TokenBody, Body()]) -> Response[dict[str, Any]]:
    return api.json_response(mosip.invalidate_token(body.token))


lambda_handler = routes.api_handler(app)
