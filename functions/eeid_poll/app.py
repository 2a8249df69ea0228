from eid_broker.methods.eeid import fallback_poll_handler

lambda_handler = fallback_poll_handler()
