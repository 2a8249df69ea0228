"""The mosip-password failure limit on moto DynamoDB: only failures count, per key and normalised
username, and concurrent guesses never pass the limit."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator

import pytest

from eid_broker.errors import PersonRateLimited
from eid_broker.password_guard import PasswordGuard
from eid_broker.throttle import PersonThrottle
from tests.conftest import moto_table
from tests.unit.test_tokens import Atomic, Clock

TABLE = "limits"
WRONG, RIGHT = "INVALID_CREDENTIALS", None


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with moto_table(TABLE, "counter_key") as client:
        yield client


def limiter(client: object, clock: Clock, limit: int = 5, window: int = 900) -> PersonThrottle:
    return PersonThrottle(TABLE, client, limit=limit, window=window, digest=digest, clock=clock)


def attempt(throttle: PersonThrottle, username: str, outcome: str | None, owner: str = "key-a") -> bool:
    try:
        guard = PasswordGuard(throttle, owner, username)
    except PersonRateLimited:
        return False
    guard.settle(outcome)
    return True


def test_only_failures_count_and_the_next_start_is_refused_until_the_window_frees_one(dynamodb) -> None:
    clock = Clock()
    throttle = limiter(dynamodb, clock, limit=3)
    assert [attempt(throttle, "alice", RIGHT) for _ in range(10)] == [True] * 10  # logins never count
    assert [attempt(throttle, name, WRONG) for name in ("alice", "Alice", "ALICE")] == [True] * 3
    with pytest.raises(PersonRateLimited) as refused:
        PasswordGuard(throttle, "key-a", "aLiCe")
    assert refused.value.status == 429 and refused.value.problem()["code"] == "PERSON_RATE_LIMITED"
    assert refused.value.retry_after == 900
    assert attempt(throttle, "alice", RIGHT, owner="key-b")  # another API key's guesses are its own
    assert attempt(throttle, "bob", WRONG)
    clock.now += 900
    assert attempt(throttle, "alice", RIGHT)


def test_concurrent_guesses_never_pass_the_limit(dynamodb) -> None:
    throttle = limiter(Atomic(dynamodb), Clock(), limit=5)
    barrier = threading.Barrier(20)
    let_through: list[bool] = []

    def guess() -> None:
        barrier.wait()
        let_through.append(attempt(throttle, "alice", WRONG))

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert let_through.count(True) == 5 and let_through.count(False) == 15


def test_the_table_never_holds_the_username_or_the_key(dynamodb) -> None:
    attempt(limiter(dynamodb, Clock()), "alice", WRONG, owner="key-a")
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert "alice" not in json.dumps(item) and "key-a" not in json.dumps(item)
