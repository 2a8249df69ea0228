"""The per-key long-poll cap on moto DynamoDB: race-free, self-healing after a dead function, keyed."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator

import pytest

from eid_broker.errors import TooManyWaits
from eid_broker.wait_slots import LEASE_MARGIN, WaitSlots
from tests.conftest import moto_table
from tests.unit.test_tokens import Atomic, Clock

TABLE = "limits"
OWNER = "api-key-id-of-integrator-a"


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()  # stands in for the keyed HMAC


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with moto_table(TABLE, "counter_key") as client:
        yield client


def slots(client: object, clock: Clock, limit: int) -> WaitSlots:
    return WaitSlots(TABLE, client, limit=limit, digest=digest, clock=clock)


def test_concurrent_waits_beyond_the_cap_are_refused_and_none_more_gets_through(dynamodb) -> None:
    limiter = slots(Atomic(dynamodb), Clock(), limit=5)
    barrier, release = threading.Barrier(12), threading.Event()
    admitted: list[bool] = []
    problems: list[dict] = []
    lock = threading.Lock()

    def read() -> None:
        barrier.wait()
        try:
            with limiter.waiting(OWNER, 25):
                with lock:
                    admitted.append(True)
                release.wait(10)
        except TooManyWaits as refused:
            with lock:
                admitted.append(False)
                problems.append(refused.problem() | {"retry_after": refused.retry_after})

    threads = [threading.Thread(target=read) for _ in range(12)]
    for thread in threads:
        thread.start()
    pause = threading.Event()
    for _ in range(200):  # every read is admitted (and waits) or refused while the admitted still wait
        if len(admitted) == 12:
            break
        pause.wait(0.05)
    release.set()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 5 and admitted.count(False) == 7
    assert {(p["status"], p["code"], p["retry_after"]) for p in problems} == {(429, "TOO_MANY_WAITS", 1)}


def test_a_slot_given_back_is_free_again_and_keys_are_counted_apart(dynamodb) -> None:
    limiter = slots(dynamodb, Clock(), limit=1)
    with limiter.waiting(OWNER, 25):
        with pytest.raises(TooManyWaits), limiter.waiting(OWNER, 25):
            pass
        with limiter.waiting("another-api-key", 25):
            pass
    with limiter.waiting(OWNER, 25):
        pass


def test_a_lease_whose_function_died_frees_itself_just_after_its_wait(dynamodb) -> None:
    clock = Clock()
    limiter = slots(dynamodb, clock, limit=2)
    held = [limiter.waiting(OWNER, 25) for _ in range(2)]
    for context in held:
        context.__enter__()  # never left: the functions died mid-wait
    with pytest.raises(TooManyWaits), limiter.waiting(OWNER, 25):
        pass
    clock.now += 25 + LEASE_MARGIN
    with limiter.waiting(OWNER, 25):
        pass
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    # the dead leases were counted out, and the last one given back
    assert item["active"]["N"] == "0" and item["leases"]["M"] == {}


def test_the_table_holds_a_keyed_digest_of_the_key_never_the_key(dynamodb) -> None:
    with slots(dynamodb, Clock(), limit=3).waiting(OWNER, 10):
        (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert OWNER not in json.dumps(item)
    assert item["counter_key"]["S"] == digest("long-poll", OWNER)
