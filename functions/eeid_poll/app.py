from eid_broker import polling
from eid_broker.methods.eeid import METHOD

lambda_handler = polling.handler(METHOD)
