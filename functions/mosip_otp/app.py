from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from eid_broker import api, routes
from eid_broker import mosip_passthrough as mosip

app = api.make_resolver()


@app.post(
    "/v1/mosip/otp/generate",
    summary="MOSIP OTP manager: generate an OTP for a key",
    operation_id="generate_mosip_otp",
    description="Answers `{status, otp}` as MOSIP does; the broker calls with its own cached service token. "
    "The key is namespaced per API key (`eidb-{hmac}-{key}`): a caller never reaches another caller's keys "
    "or a MOSIP user's OTPs.",
    tags=["mosip"],
    responses=api.responses("The OTP", body=True),
)
def generate(body: Annotated[mosip.OtpKey, Body()]) -> Response[dict[str, Any]]:
    return api.json_response(mosip.generate_otp(api.caller(app), body.key))


@app.post(
    "/v1/mosip/otp/validate",
    summary="MOSIP OTP manager: validate an OTP for a key",
    operation_id="validate_mosip_otp",
    tags=["mosip"],
    responses=api.responses("`{valid, status}`", body=True),
)
def validate(body: Annotated[mosip.OtpCheck, Body()]) -> Response[dict[str, Any]]:
    return api.json_response(mosip.validate_otp(api.caller(app), body.key, body.otp))


lambda_handler = routes.api_handler(app)
