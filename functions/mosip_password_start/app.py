from eid_broker import routes
from eid_broker.methods.mosip import PASSWORD_METHOD

lambda_handler = routes.start_handler(PASSWORD_METHOD)
