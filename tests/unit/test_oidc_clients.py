"""OIDC client registration on moto's DynamoDB: per API key, secrets as keyed digests shown once,
rotation with a 24 h grace, validation naming the field, 409 and 404 across keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey
from pydantic import ValidationError

from eid_broker import keys
from eid_broker.errors import InvalidInput
from eid_broker.oidc import clients as client_module
from eid_broker.oidc.clients import ClientIdTaken, ClientIn, ClientNotFound, ClientService
from eid_broker.oidc.store import OidcStore
from tests.conftest import moto_table

BODY: dict[str, Any] = {
    "client_name": "Example Bank",
    "redirect_uris": ["https://bank.example/oidc/callback"],
    "methods": ["dokobit-mobile-id", "dokobit-smart-id"],
}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ClientService, Any]]:
    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")
    with moto_table("oidc", "pk") as dynamodb:
        yield ClientService(OidcStore("oidc", dynamodb)), dynamodb


def test_a_secret_is_shown_once_and_stored_only_as_a_keyed_digest(clients) -> None:
    service, dynamodb = clients
    created = service.put("bank-1", ClientIn(**BODY), "key-a")
    assert created.client_secret is not None and len(created.client_secret) >= 48
    again = service.put("bank-1", ClientIn(**{**BODY, "client_name": "Renamed"}), "key-a")
    assert again.client_secret is None and again.client_name == "Renamed"
    stored = str(dynamodb.scan(TableName="oidc")["Items"])
    assert created.client_secret not in stored
    client = service.get("bank-1", "key-a")
    assert client.secret_matches(created.client_secret)
    assert not client.secret_matches(created.client_secret[:-1] + "x")
    assert service.get("bank-1", "key-a").out().client_secret is None


def test_another_keys_client_is_409_to_put_and_404_to_read_delete_or_rotate(clients) -> None:
    service, _ = clients
    service.put("bank-1", ClientIn(**BODY), "key-a")
    with pytest.raises(ClientIdTaken):
        service.put("bank-1", ClientIn(**BODY), "key-b")
    for call in (service.get, service.delete, service.rotate_secret):
        with pytest.raises(ClientNotFound):
            call("bank-1", "key-b")
    assert service.get("bank-1", "key-a").client_name == "Example Bank"


def test_rotation_keeps_the_old_secret_for_24_hours(clients) -> None:
    service, _ = clients
    first = service.put("bank-1", ClientIn(**BODY), "key-a").client_secret
    second = service.rotate_secret("bank-1", "key-a").client_secret
    client = service.get("bank-1", "key-a")
    assert first and client.secret_matches(first) and client.secret_matches(second)
    expired = client.model_copy(update={"previous_secret_until": "2000-01-01T00:00:00.000Z"})
    assert not expired.secret_matches(first) and expired.secret_matches(second)


def test_delete_removes_the_client(clients) -> None:
    service, _ = clients
    service.put("bank-1", ClientIn(**BODY), "key-a")
    service.delete("bank-1", "key-a")
    assert service.find("bank-1") is None


def test_a_delete_racing_a_re_registration_by_another_key_removes_nothing(clients, monkeypatch) -> None:
    service, _ = clients
    service.put("bank-1", ClientIn(**BODY), "key-a")
    read = service.get

    def read_then_lose_the_race(client_id: str, owner: str) -> Any:
        found = read(client_id, owner)  # key-a's client, read before the delete
        service.store.delete(client_module._key(client_id))  # key-a deleted it meanwhile, and key-b
        service.put(client_id, ClientIn(**{**BODY, "client_name": "Key B's"}), "key-b")  # took the id
        return found

    monkeypatch.setattr(service, "get", read_then_lose_the_race)
    with pytest.raises(ClientNotFound):
        service.delete("bank-1", "key-a")
    monkeypatch.setattr(service, "get", read)
    assert service.get("bank-1", "key-b").client_name == "Key B's"


def test_a_malformed_client_id_is_422_naming_it(clients) -> None:
    service, _ = clients
    with pytest.raises(InvalidInput) as refused:
        service.put("x", ClientIn(**BODY), "key-a")
    assert refused.value.errors and refused.value.errors[0]["field"] == "client_id"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"redirect_uris": ["http://bank.example/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://bank.example/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": [f"https://bank.example/{i}" for i in range(11)]}, "redirect_uris"),
        ({"methods": ["dokobit-mobile-id", "marksign-mobile-id"]}, "methods"),
        ({"methods": ["unknown"]}, "methods"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_bodies_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ClientIn(**{**BODY, **change})
    assert field in str(refused.value)


# The 1024-bit key is there to be refused; joserfc warns on reading it.
@pytest.mark.filterwarnings("ignore:Key size should be >= 2048 bits")
def test_jwks_must_hold_public_rs256_or_es256_keys_only() -> None:
    rsa_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ec_key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    public = {"keys": [rsa_key.as_dict(private=False), ec_key.as_dict(private=False)]}
    body = ClientIn(**{**BODY, "token_endpoint_auth_method": "private_key_jwt", "jwks": public})
    assert body.jwks is not None and len(body.jwks["keys"]) == 2
    for jwks in (
        {"keys": [rsa_key.as_dict(private=True)]},
        {"keys": [ECKey.import_key(ec.generate_private_key(ec.SECP384R1())).as_dict(private=False)]},
        {"keys": [RSAKey.import_key(rsa.generate_private_key(65537, 1024)).as_dict(private=False)]},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        {"keys": []},
    ):
        with pytest.raises(ValidationError, match="jwks"):
            ClientIn(**{**BODY, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})


def test_a_private_key_jwt_client_has_no_secret(clients) -> None:
    service, _ = clients
    key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwks = {"keys": [key.as_dict(private=False)]}
    body = {**BODY, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}
    created = service.put("bank-jwt", ClientIn(**body), "key-a")
    assert created.client_secret is None
    with pytest.raises(InvalidInput):
        service.rotate_secret("bank-jwt", "key-a")
