"""The hosted page redirects only to a redirect URI that is registered when it redirects: a login
whose client was deleted (or deleted and registered again by anyone) or whose redirect URI was
removed meanwhile ends on the broker's error page (400), with no code and no Location."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest

from eid_broker import config, keys
from eid_broker.oidc import login
from eid_broker.oidc.clients import ClientIn, ClientService
from eid_broker.oidc.store import OidcStore
from eid_broker.oidc.transaction import Transactions, cookie_name, csrf_token

CALLBACK = "https://bank.example/cb"


class Event(dict):
    """What the page's code reads of an API Gateway event."""

    def __init__(self, transaction_id: str, body: dict[str, str] | None) -> None:
        super().__init__(body=urlencode(body) if body is not None else None)
        self.headers = {"content-type": "application/x-www-form-urlencoded"}
        self.multi_value_headers = {"Cookie": [f"{cookie_name()}={transaction_id}"]}
        self.query_string_parameters: dict[str, str] = {}


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ClientService, Transactions]]:
    from tests.conftest import moto_table

    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")
    monkeypatch.setenv("OIDC_ISSUER", "https://id.example")
    config.process_settings.cache_clear()
    with moto_table("oidc", "pk") as dynamodb:
        store = OidcStore("oidc", dynamodb)
        clients = ClientService(store)
        monkeypatch.setattr(login, "default_store", lambda: store)
        monkeypatch.setattr(login, "default_clients", lambda: clients)
        yield clients, Transactions(store)
    config.process_settings.cache_clear()


def _body(uris: list[str]) -> ClientIn:
    return ClientIn(client_name="Bank", redirect_uris=uris, methods=["dokobit-mobile-id", "dokobit-smart-id"])


def _open(clients: ClientService, transactions: Transactions) -> str:
    clients.put("bank", _body([CALLBACK, "https://bank.example/other"]), "key-a")
    request = SimpleNamespace(
        client=clients.find("bank"),
        redirect_uri=CALLBACK,
        state="s-1",
        scope=["openid"],
        nonce=None,
        code_challenge=None,
        acr=None,
        locale="en",
        login_hint=None,
        offers=["dokobit-mobile-id", "dokobit-smart-id"],
    )
    transaction_id, _ = transactions.open(request)  # type: ignore[arg-type]
    return transaction_id


def _return(transaction_id: str) -> Any:
    app = SimpleNamespace(
        current_event=Event(transaction_id, {"csrf": csrf_token(transaction_id), "action": "return"})
    )
    return login.step(app)  # type: ignore[arg-type]


def test_return_goes_to_the_relying_party_while_its_redirect_uri_is_registered(page) -> None:
    clients, transactions = page
    answer = _return(_open(clients, transactions))
    assert answer.status_code == 303 and answer.headers["Location"].startswith(
        f"{CALLBACK}?error=access_denied"
    )


@pytest.mark.parametrize("change", ["removed", "deleted", "registered_again"])
def test_return_is_an_error_page_once_the_redirect_uri_is_no_longer_registered(page, change) -> None:
    clients, transactions = page
    transaction_id = _open(clients, transactions)
    if change == "removed":
        clients.put("bank", _body(["https://bank.example/other"]), "key-a")
    else:
        clients.delete("bank", "key-a")
        if change == "registered_again":
            time.sleep(0.002)  # another registration time
            clients.put("bank", _body([CALLBACK]), "key-b")
    answer = _return(transaction_id)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "does not know" in answer.body
    assert transactions.load(transaction_id) is None  # the login has ended


def test_a_completed_login_issues_no_code_once_its_client_is_gone(page, monkeypatch) -> None:
    clients, transactions = page
    transaction_id = _open(clients, transactions)
    transaction = transactions.load(transaction_id)
    assert transaction is not None
    clients.delete("bank", "key-a")
    issued: list[Any] = []
    monkeypatch.setattr(login.Grants, "issue_code", lambda *args: issued.append(args) or "code")
    record = SimpleNamespace(status="completed")
    answer = login._complete(transaction_id, transaction, record)  # type: ignore[arg-type]
    assert answer.status_code == 400 and "Location" not in answer.headers and not issued
