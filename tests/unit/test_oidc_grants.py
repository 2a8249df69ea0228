"""Codes and access tokens on moto's DynamoDB: one redemption per code, a replay revokes the token
(also when it comes between the redemption and the token's binding), PKCE S256, expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from eid_broker import config, keys
from eid_broker.oidc.grant import GrantError, Grants, pkce_s256
from eid_broker.oidc.store import OidcStore
from eid_broker.oidc.transaction import LoginTransaction
from tests.conftest import moto_table

VERIFIER = "v" * 43
CREATED = "2026-12-07T00:00:00.000Z"


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Grants, Any]]:
    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")
    monkeypatch.setenv("OIDC_CODE_TTL_SECONDS", "60")
    config.process_settings.cache_clear()
    with moto_table("oidc", "pk") as dynamodb:
        yield Grants(OidcStore("oidc", dynamodb)), dynamodb


def _code(grants: Grants, challenge: str | None = pkce_s256(VERIFIER)) -> str:
    transaction = LoginTransaction(
        client_id="bank",
        client_created="2026-12-07T00:00:00.000Z",
        owner="key-a",
        redirect_uri="https://bank.example/cb",
        state="s",
        scope=["openid"],
        code_challenge=challenge,
        offers=["dokobit-mobile-id"],
        step="wait",
        started=int(time.time()),
    )
    return grants.issue_code(transaction, {"sub": "EE60001019906"}, {"acr": "high", "amr": ["mID"]})


def test_a_code_is_redeemed_once_and_a_replay_revokes_its_token(grants) -> None:
    service, dynamodb = grants
    code = _code(service)
    redeemed = service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, CREATED)
    token, lifetime = service.bind_token(code, redeemed)
    assert lifetime == 600 and service.token(token)["claims"] == {"sub": "EE60001019906"}
    with pytest.raises(GrantError, match="already used"):
        service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, CREATED)
    assert service.token(token) is None
    stored = str(dynamodb.scan(TableName="oidc")["Items"])
    assert code not in stored and token not in stored  # only keyed digests


def test_a_replay_between_redemption_and_binding_leaves_no_token(grants) -> None:
    service, _ = grants
    code = _code(service)
    redeemed = service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, CREATED)
    with pytest.raises(GrantError):
        service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, CREATED)
    with pytest.raises(GrantError):
        service.bind_token(code, redeemed)


@pytest.mark.parametrize(
    ("client", "redirect", "verifier", "reason"),
    [
        ("other", "https://bank.example/cb", VERIFIER, "another client"),
        ("bank", "https://bank.example/cb2", VERIFIER, "redirect_uri"),
        ("bank", "https://bank.example/cb", "w" * 43, "does not match"),
        ("bank", "https://bank.example/cb", None, "required"),
    ],
)
def test_a_refused_redemption_does_not_use_the_code(grants, client, redirect, verifier, reason) -> None:
    service, _ = grants
    code = _code(service)
    with pytest.raises(GrantError, match=reason):
        service.redeem(code, client, redirect, verifier, CREATED)
    service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, CREATED)


def test_a_verifier_without_a_challenge_and_an_expired_code_are_refused(grants, monkeypatch) -> None:
    service, _ = grants
    with pytest.raises(GrantError, match="no code_challenge"):
        service.redeem(_code(service, None), "bank", "https://bank.example/cb", VERIFIER, CREATED)
    code = _code(service)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(GrantError, match="expired"):
        service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, CREATED)


def test_a_client_deleted_and_registered_again_cannot_redeem_the_old_clients_code(grants) -> None:
    service, _ = grants
    code = _code(service)
    with pytest.raises(GrantError, match="another client"):
        service.redeem(code, "bank", "https://bank.example/cb", VERIFIER, "2026-12-08T00:00:00.000Z")
