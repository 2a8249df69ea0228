from eid_broker import polling

lambda_handler = polling.failure_handler()
