"""ID tokens signed by a KMS key (moto's KMS): the JWKS publishes both keys with thumbprint kids, and
joserfc verifies what the current key signed with the published public key."""

from __future__ import annotations

import boto3
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from moto import mock_aws

from eid_broker.oidc.jose import KmsSigner


def test_the_kms_key_signs_rs256_verifiable_with_the_published_jwks() -> None:
    with mock_aws():
        kms = boto3.client("kms")
        current, upcoming = (
            kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"] for _ in range(2)
        )
        signer = KmsSigner(kms, current, (upcoming,))
        published = signer.jwks()
        token = signer.sign({"sub": "EE60001019906", "name": "MARY ÄNN"})
    assert [key["alg"] for key in published["keys"]] == ["RS256", "RS256"]
    assert all(key["use"] == "sig" and "d" not in key for key in published["keys"])
    kids = [key["kid"] for key in published["keys"]]
    assert len(set(kids)) == 2
    decoded = jwt.decode(token, KeySet.import_key_set(published), algorithms=["RS256"])
    assert decoded.header["kid"] == kids[0]
    assert decoded.claims == {"sub": "EE60001019906", "name": "MARY ÄNN"}
    # the key that does not sign yet does not verify it
    only_next = KeySet.import_key_set({"keys": [published["keys"][1]]})
    with pytest.raises(JoseError):
        jwt.decode(token, only_next, algorithms=["RS256"])
