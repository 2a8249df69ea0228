from eid_broker.methods.marksign_mobile_id import METHOD

lambda_handler = METHOD.poll_handler()
