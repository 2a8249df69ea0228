from eid_broker import polling
from eid_broker.methods.marksign_smart_id import METHOD

lambda_handler = polling.handler(METHOD)
