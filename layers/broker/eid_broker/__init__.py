"""eid-broker's shared package: one import path in Lambda (the layer) and in tests."""
