"""`private_key_jwt` (RFC 7523 §3): an assertion is not accepted before its `nbf`, nor when it says
it was issued in the future (`iat`); both are numbers when present. Within the clock skew it passes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from eid_broker import config, keys
from eid_broker.oidc.clients import ClientIn, ClientService
from eid_broker.oidc.store import OidcStore
from eid_broker.oidc.token import ASSERTION_TYPE, OAuthError, TokenEndpoint
from tests.conftest import moto_table

ISSUER = "https://id.example"
KEY = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenEndpoint]:
    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    config.process_settings.cache_clear()
    with moto_table("oidc", "pk") as dynamodb:
        store = OidcStore("oidc", dynamodb)
        clients = ClientService(store)
        body = ClientIn(
            client_name="Bank",
            redirect_uris=["https://bank.example/cb"],
            methods=["dokobit-mobile-id"],
            token_endpoint_auth_method="private_key_jwt",
            jwks={"keys": [{**KEY.as_dict(private=False), "kid": "k1"}]},
        )
        clients.put("bank", body, "key-a")
        yield TokenEndpoint(clients, store, signer=None)  # type: ignore[arg-type]
    config.process_settings.cache_clear()


def _fields(jti: str, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"iss": "bank", "sub": "bank", "aud": f"{ISSUER}/oidc/token", "jti": jti, "exp": now + 60}
    assertion = jwt.encode({"alg": "RS256", "kid": "k1"}, {**payload, **claims}, KEY)
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


@pytest.mark.parametrize(
    "claims",
    [
        {"nbf": 120},  # numbers are seconds from now, taken when the test runs, not when it is collected
        {"iat": 120},
        {"nbf": "0"},
        {"iat": "yesterday"},
    ],
)
def test_an_assertion_not_yet_valid_or_issued_in_the_future_is_refused(endpoint, claims) -> None:
    now = int(time.time())
    claims = {name: now + value if isinstance(value, int) else value for name, value in claims.items()}
    with pytest.raises(OAuthError) as refused:
        endpoint.authenticate(_fields(f"j-{sorted(claims)}-{claims}", **claims), None)
    assert refused.value.error == "invalid_client" and refused.value.status == 401


def test_an_assertion_within_the_clock_skew_is_accepted(endpoint) -> None:
    now = int(time.time())
    client = endpoint.authenticate(_fields("j-ok", nbf=now + 10, iat=now - 60), None)
    assert client.client_id == "bank"
