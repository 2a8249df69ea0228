from eid_broker import polling
from eid_broker.methods.dokobit_smart_id import METHOD

lambda_handler = polling.handler(METHOD)
