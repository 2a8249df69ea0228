"""The login cookie is `__Host-` prefixed when deployed (https): a sibling subdomain or a plain-http
page cannot set it, so nobody can fixate a browser on their own login transaction (and then take
the code of the person who completes it). A cookie of the unprefixed name is no login there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from eid_broker import config, keys
from eid_broker.oidc import login, web
from eid_broker.oidc.transaction import LoginTransaction, cookie_name

TRANSACTION = LoginTransaction(
    client_id="bank",
    owner="key-a",
    redirect_uri="https://bank.example/cb",
    state="s",
    scope=["openid"],
    offers=["dokobit-mobile-id"],
    step="identify",
    started=int(time.time()),
).model_dump()


class AnyLogin:
    """A store in which every transaction id is a login (the cookie's name is what is tested)."""

    def get(self, key: str) -> dict[str, Any]:
        return dict(TRANSACTION)


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(login, "default_store", AnyLogin)
    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")

    def use(url: str) -> None:
        monkeypatch.setenv("OIDC_ISSUER", url)
        config.process_settings.cache_clear()

    yield use
    config.process_settings.cache_clear()


def _app(cookie: str) -> Any:
    return SimpleNamespace(current_event=SimpleNamespace(multi_value_headers={"Cookie": [cookie]}))


def test_deployed_the_cookie_is_host_prefixed_and_an_unprefixed_one_is_no_login(issuer) -> None:
    issuer("https://id.example")
    assert cookie_name() == "__Host-eidb_login"
    set_cookie = web.set_cookie(cookie_name(), "v", max_age=600)
    assert set_cookie.startswith("__Host-eidb_login=v; Path=/;") and "Secure" in set_cookie
    assert "Domain" not in set_cookie
    assert login._current(_app("eidb_login=planted")) is None
    assert login._current(_app("__Host-eidb_login=mine")) is not None


def test_locally_over_http_the_cookie_keeps_its_plain_name(issuer) -> None:
    issuer("http://127.0.0.1:3000")
    assert cookie_name() == "eidb_login"
    assert login._current(_app("eidb_login=mine")) is not None
