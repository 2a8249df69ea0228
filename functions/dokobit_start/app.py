from eid_broker import routes
from eid_broker.methods.dokobit_mobile_id import METHOD

lambda_handler = routes.start_handler(METHOD)
