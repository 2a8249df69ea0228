"""The shared provider-token cache on moto DynamoDB: reuse, early refresh, single flight, invalidation."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from eid_broker.tokens import Token, TokenCache
from tests.conftest import moto_table

TABLE = "tokens"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Provider:
    """Counts token calls; each token lives 120 s like eeID's."""

    def __init__(self, clock: Clock) -> None:
        self.calls = 0
        self.clock = clock
        self.lock = threading.Lock()

    def fetch(self) -> Token:
        with self.lock:
            self.calls += 1
            return Token(f"token-{self.calls}", self.clock() + 120)


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with moto_table(TABLE, "token_key") as client:
        yield client


def test_a_token_is_reused_until_shortly_before_it_expires(dynamodb) -> None:
    clock = Clock()
    provider = Provider(clock)
    cache = TokenCache(TABLE, dynamodb, clock=clock)
    assert cache.get("eeid:x", provider.fetch) == "token-1"
    clock.now += 99
    assert cache.get("eeid:x", provider.fetch) == "token-1"
    # a second container (cold start) finds it in DynamoDB, not at the provider
    assert TokenCache(TABLE, dynamodb, clock=clock).get("eeid:x", provider.fetch) == "token-1"
    clock.now += 2  # 101 s old: within 20 s of expiry
    assert cache.get("eeid:x", provider.fetch) == "token-2"
    assert provider.calls == 2


class Atomic:
    """DynamoDB applies each conditional write atomically; moto's server does not promise that under
    threads, so this race test serialises single calls the way DynamoDB does."""

    def __init__(self, client: object) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:
        call = getattr(self._client, name)

        def atomic(**kwargs: object) -> object:
            with self._lock:
                return call(**kwargs)

        return atomic


def test_fifty_cold_starts_at_once_make_at_most_two_token_calls(dynamodb) -> None:
    clock = Clock()
    provider = Provider(clock)
    barrier = threading.Barrier(50)
    tokens: list[str] = []
    client = Atomic(dynamodb)

    def cold_start() -> None:
        cache = TokenCache(TABLE, client, clock=clock, sleep=lambda s: None)
        barrier.wait()
        tokens.append(cache.get("eeid:x", provider.fetch))

    threads = [threading.Thread(target=cold_start) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 50
    assert provider.calls <= 2
    assert set(tokens) <= {"token-1", "token-2"}


def test_the_lease_is_single_flight_deterministically(dynamodb) -> None:
    # Given container A holds the refresh lease (its provider call is under way)
    clock = Clock()
    a, b = TokenCache(TABLE, dynamodb, clock=clock), TokenCache(TABLE, dynamodb, clock=clock)
    assert a._take_lease("k") is True
    # When container B asks, it does not call the provider but waits for A's token
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 2:
            a._refresh("k", lambda: Token("from-a", clock() + 120))

    b._sleep = sleep
    assert b.get("k", lambda: pytest.fail("B must not fetch")) == "from-a"


def test_a_refused_token_is_dropped_and_refreshed_once(dynamodb) -> None:
    clock = Clock()
    provider = Provider(clock)
    cache = TokenCache(TABLE, dynamodb, clock=clock)
    first = cache.get("k", provider.fetch)
    cache.invalidate("k", first)
    assert cache.get("k", provider.fetch) == "token-2"
    # invalidating a token that was already replaced does not drop the new one
    cache.invalidate("k", first)
    assert TokenCache(TABLE, dynamodb, clock=clock).get("k", provider.fetch) == "token-2"


def test_a_failed_refresh_releases_the_lease(dynamodb) -> None:
    clock = Clock()
    cache = TokenCache(TABLE, dynamodb, clock=clock)

    def broken() -> Token:
        raise ConnectionError("provider down")

    with pytest.raises(ConnectionError):
        cache.get("k", broken)
    assert cache.get("k", Provider(clock).fetch) == "token-1"


def test_the_token_value_is_never_logged(dynamodb, caplog: pytest.LogCaptureFixture, capsys) -> None:
    clock = Clock()
    TokenCache(TABLE, dynamodb, clock=clock).get("k", lambda: Token("very-secret-token", clock() + 120))
    assert "very-secret-token" not in caplog.text + capsys.readouterr().out
