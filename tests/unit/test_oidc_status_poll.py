"""The waiting page's long-poll (`GET /oidc/login/status?wait=N`) is public: one login transaction
holds at most one waiting read at a time, so a single cookie cannot keep any number of Lambdas
waiting 20 s each. A second read while one waits is refused at once (429, nothing waited)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from eid_broker import keys
from eid_broker.oidc import login
from eid_broker.oidc.store import OidcStore, secret_key
from eid_broker.oidc.transaction import COOKIE, LIFETIME_SECONDS, LoginTransaction, Transactions
from tests.conftest import moto_table

TRANSACTION_ID = "t" * 43


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[OidcStore]:
    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")
    with moto_table("oidc", "pk") as dynamodb:
        oidc = OidcStore("oidc", dynamodb)
        transaction = LoginTransaction(
            client_id="bank",
            owner="key-a",
            redirect_uri="https://bank.example/cb",
            state="s",
            scope=["openid"],
            offers=["dokobit-mobile-id"],
            step="wait",
            method="dokobit-mobile-id",
            session_id="s-1",
            started=int(time.time()),
        )
        oidc.put(
            secret_key("login", TRANSACTION_ID), transaction.model_dump(), new=True, ttl=LIFETIME_SECONDS
        )
        monkeypatch.setattr(login, "default_store", lambda: oidc)
        yield oidc


def _app(wait: str = "20") -> Any:
    event = SimpleNamespace(
        headers={},
        multi_value_headers={"Cookie": [f"{COOKIE}={TRANSACTION_ID}"]},
        query_string_parameters={"wait": wait},
    )
    return SimpleNamespace(current_event=event)


def test_a_second_waiting_read_of_one_transaction_is_refused_without_waiting(store, monkeypatch) -> None:
    waits: list[float] = []

    def session(transaction: LoginTransaction, wait: float = 0) -> Any:
        waits.append(wait)
        if len(waits) == 1:  # while the first read waits, the same cookie asks again
            second = login.status(_app())
            assert second.status_code == 429 and json.loads(second.body) == {"status": "busy"}
            assert second.headers["Retry-After"] == "2"
        return SimpleNamespace(status="pending")

    monkeypatch.setattr(login, "_session", session)
    first = login.status(_app())
    assert first.status_code == 200 and json.loads(first.body) == {"status": "pending"}
    assert waits == [20]  # the refused read never waited
    # the first read gave its slot back: the page's next long-poll waits again
    assert login.status(_app()).status_code == 200 and waits == [20, 20]


def test_a_read_that_does_not_wait_needs_no_slot(store, monkeypatch) -> None:
    monkeypatch.setattr(login, "_session", lambda transaction, wait=0: SimpleNamespace(status="pending"))
    assert Transactions(store).hold_poll(TRANSACTION_ID, 20) is not None
    assert login.status(_app("0")).status_code == 200


def test_a_slot_whose_read_died_frees_itself(store, monkeypatch) -> None:
    transactions = Transactions(store)
    assert transactions.hold_poll(TRANSACTION_ID, 20) is not None
    assert transactions.hold_poll(TRANSACTION_ID, 20) is None
    later = time.time() + 20 + 10
    monkeypatch.setattr(time, "time", lambda: later)
    assert transactions.hold_poll(TRANSACTION_ID, 20) is not None
