from eid_broker.methods.mobbid import method_poll_handler

lambda_handler = method_poll_handler()
