"""MobbID answers the broker's configuration errors and bans with clear outcomes, not user errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from eid_broker.errors import ProviderUnavailable, SessionOutcomeError
from eid_broker.http import make_session
from eid_broker.providers.mobbid import MobbidClient
from eid_broker.tokens import TokenCache, jwt_expiry
from tests.conftest import serve

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiAyMDAwMDAwMDAwfQ.c2lnbmF0dXJl"  # exp 2000000000


def mobbid_answering(status: int, body: dict) -> object:
    def app(environ, start_response):
        answer = {"authToken": JWT} if environ["PATH_INFO"].endswith("/authorization") else body
        code = 200 if environ["PATH_INFO"].endswith("/authorization") else status
        start_response(f"{code} X", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    return app


@pytest.fixture
def tokens() -> Iterator[TokenCache]:
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="tokens",
            KeySchema=[{"AttributeName": "token_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "token_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield TokenCache("tokens", client)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (404, {"message": "Application not found"}, "PROVIDER_MISCONFIGURED"),
        (422, {"errorCode": "GATEWAY_BIOMETRIC_METHOD_NOT_AVAILABLE"}, "PROVIDER_MISCONFIGURED"),
        (400, {"message": "Bad request"}, "PROVIDER_ERROR"),
    ],
)
def test_process_creation_refusals(tokens: TokenCache, status: int, body: dict, code: str) -> None:
    served = next(serve(mobbid_answering(status, body)))
    try:
        client = MobbidClient(served.url, "app", "key", make_session(backoff=0.01), tokens)
        with pytest.raises(SessionOutcomeError) as raised:
            client.create_process("alice", "https://shop.example/back")
        assert (raised.value.code, raised.value.provider_code) == (code, f"HTTP_{status}")
    finally:
        served.server.shutdown()


def test_a_ban_is_an_outage_not_a_refusal(tokens: TokenCache) -> None:
    served = next(serve(mobbid_answering(429, {"message": "Too many requests"})))
    try:
        with pytest.raises(ProviderUnavailable):
            MobbidClient(served.url, "app", "key", make_session(backoff=0.01), tokens).create_process(
                "a", "https://x.example"
            )
    finally:
        served.server.shutdown()


def test_the_token_expiry_comes_from_the_jwt() -> None:
    assert jwt_expiry(JWT) == 2_000_000_000
    assert jwt_expiry("not-a-jwt") is None
