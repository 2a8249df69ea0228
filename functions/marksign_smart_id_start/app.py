from eid_broker import routes
from eid_broker.methods.marksign_smart_id import METHOD

lambda_handler = routes.start_handler(METHOD)
