from eid_broker.methods.dokobit_mobile_id import METHOD

lambda_handler = METHOD.poll_handler()
