"""Step Functions task - the expiry watch of a mosip-otp session: records OTP_EXPIRED past its deadline."""

from eid_broker import polling
from eid_broker.methods.mosip import OTP_METHOD

lambda_handler = polling.handler(OTP_METHOD)
