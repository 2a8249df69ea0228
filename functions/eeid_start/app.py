from eid_broker import routes
from eid_broker.methods.eeid import METHOD

lambda_handler = routes.start_handler(METHOD)
