from eid_broker import routes
from eid_broker.methods.mosip import OTP_METHOD

lambda_handler = routes.start_handler(OTP_METHOD)
