"""The person-level start limit on moto DynamoDB: sliding, all-or-nothing, race-free, identifier-free."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import pytest

from eid_broker import keys
from eid_broker.errors import InternalUnavailable, PersonRateLimited
from eid_broker.throttle import PersonThrottle
from tests.conftest import moto_table
from tests.unit.test_tokens import Atomic, Clock

TABLE = "throttle"
PHONE, CODE = "+37200000766", "60001019906"


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()  # stands in for the keyed HMAC


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with moto_table(TABLE, "counter_key") as client:
        yield client


def throttle(client: object, clock: Clock, limit: int = 3, window: int = 120) -> PersonThrottle:
    return PersonThrottle(TABLE, client, limit=limit, window=window, digest=digest, clock=clock)


def test_the_limit_holds_within_the_window_and_frees_slot_by_slot(dynamodb) -> None:
    clock = Clock()
    limiter = throttle(dynamodb, clock)
    for _ in range(3):
        limiter.acquire("mobile-id", {"phone": PHONE})
        clock.now += 10
    with pytest.raises(PersonRateLimited) as refused:
        limiter.acquire("mobile-id", {"phone": PHONE})
    assert refused.value.status == 429 and refused.value.retry_after == 120 - 30
    assert refused.value.problem()["code"] == "PERSON_RATE_LIMITED"
    clock.now += 90  # the first start's slot frees up; only that one
    limiter.acquire("mobile-id", {"phone": PHONE})
    with pytest.raises(PersonRateLimited):
        limiter.acquire("mobile-id", {"phone": PHONE})


def test_no_window_boundary_lets_twice_the_limit_through(dynamodb) -> None:
    clock = Clock()
    limiter = throttle(dynamodb, clock)
    allowed = 0
    for _ in range(240):  # one attempt a second for two windows
        try:
            limiter.acquire("mobile-id", {"phone": PHONE})
            allowed += 1
        except PersonRateLimited:
            pass
        clock.now += 1
    assert allowed == 6  # 3 per any 120 s


def test_families_and_identifiers_are_counted_on_their_own(dynamodb) -> None:
    clock = Clock()
    limiter = throttle(dynamodb, clock, limit=1)
    limiter.acquire("mobile-id", {"phone": PHONE, "personal_code": CODE})
    limiter.acquire("eeid", {"subject": "EE" + CODE})
    limiter.acquire("mobile-id", {"phone": "+37200000767", "personal_code": "60001019939"})
    with pytest.raises(PersonRateLimited):  # the same code from another phone
        limiter.acquire("mobile-id", {"phone": "+37200000768", "personal_code": CODE})


def test_a_refusal_changes_nothing(dynamodb) -> None:
    clock = Clock()
    limiter = throttle(dynamodb, clock, limit=1)
    limiter.acquire("mobile-id", {"personal_code": CODE, "phone": "+37200000767"})
    # the phone is free but the code is not: the phone's slot must not stay taken
    with pytest.raises(PersonRateLimited):
        limiter.acquire("mobile-id", {"phone": PHONE, "personal_code": CODE})
    limiter.acquire("mobile-id", {"phone": PHONE, "personal_code": "60001019939"})


def test_fifty_concurrent_starts_for_one_person_take_exactly_the_limit(dynamodb) -> None:
    clock = Clock()
    limiter = throttle(Atomic(dynamodb), clock)
    barrier = threading.Barrier(50)
    outcomes: list[bool] = []

    def start() -> None:
        barrier.wait()
        try:
            limiter.acquire("mosip-otp", {"user_id": "alice"})
            outcomes.append(True)
        except PersonRateLimited:
            outcomes.append(False)

    threads = [threading.Thread(target=start) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 3 and outcomes.count(False) == 47


def test_the_table_holds_keyed_digests_never_the_identifier(dynamodb, monkeypatch) -> None:
    monkeypatch.setattr(keys, "deployment_key", lambda: b"deployment-key")
    PersonThrottle(TABLE, dynamodb, limit=3, window=120).acquire("mobile-id", {"phone": PHONE})
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    expected = hmac.new(
        b"deployment-key", "\x1f".join(("person-throttle", "mobile-id", "phone", PHONE)).encode(), "sha256"
    )
    assert item["counter_key"]["S"] == f"{expected.hexdigest()}#0"
    assert PHONE not in json.dumps(item) and int(item["ttl"]["N"]) > time.time()


def test_a_limit_of_zero_turns_the_guard_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from eid_broker import config
    from eid_broker.throttle import guard_person

    monkeypatch.setattr(config, "process_settings", lambda: config.Settings(person_start_limit=0))
    guard_person("mobile-id", {"phone": PHONE})  # no table configured, no AWS call: nothing to refuse
    monkeypatch.setattr(config, "process_settings", lambda: config.Settings(person_start_limit=3))
    with pytest.raises(InternalUnavailable):  # on, but not configured: refused, never silently open
        guard_person("mobile-id", {"phone": PHONE})


def starts(limiter: PersonThrottle, method: object, bodies: list[dict[str, str]]) -> list[bool]:
    """Each body through the method's own identifiers and shares: True if the start was let through."""
    answers = []
    for body in bodies:
        parsed = method.body.model_validate(body)  # type: ignore[attr-defined]
        try:
            limiter.acquire(method.throttle_family, method.person(parsed), method.person_shares)  # type: ignore[attr-defined]
            answers.append(True)
        except PersonRateLimited:
            answers.append(False)
    return answers


def test_mobile_id_starts_with_a_victims_phone_and_other_codes_leave_the_victims_pair_free(dynamodb) -> None:
    from eid_broker.methods.dokobit_mobile_id import METHOD

    limiter = throttle(dynamodb, Clock())
    strangers = ["38001085718", "50001029996", "60001019939"]
    attack = starts(limiter, METHOD, [{"phone": PHONE, "personal_code": code} for code in strangers])
    victim = starts(limiter, METHOD, [{"phone": PHONE, "personal_code": CODE}] * 4)

    assert attack == [True, True, True]
    assert victim == [True, True, True, False]  # the pair itself still counts at the limit


def test_the_phone_alone_and_the_code_alone_count_at_three_times_the_limit(dynamodb) -> None:
    from eid_broker.methods.dokobit_mobile_id import METHOD

    limiter = throttle(dynamodb, Clock(), limit=1)
    codes = ["38001085718", "50001029996", "60001019939", CODE]
    answers = starts(limiter, METHOD, [{"phone": PHONE, "personal_code": code} for code in codes])
    assert answers == [True, True, True, False]  # the phone's 3 x 1 slots are used up


def test_mosip_user_ids_are_counted_case_folded(dynamodb) -> None:
    from eid_broker.methods.mosip import OTP_METHOD

    limiter = throttle(dynamodb, Clock())
    spellings = ["alice", "Alice", "ALICE", "aLiCe", "alicE"]
    bodies = [{"user_id": user, "user_id_type": "USERID", "channels": ["email"]} for user in spellings]
    assert starts(limiter, OTP_METHOD, bodies) == [True, True, True, False, False]


def test_latvian_codes_with_and_without_the_hyphen_are_one_person(dynamodb) -> None:
    from eid_broker.methods.dokobit_smart_id import METHOD

    limiter = throttle(dynamodb, Clock(), limit=2)
    bodies = [
        {"country": "LV", "personal_code": code} for code in ("050405-10009", "05040510009", "050405-10009")
    ]
    assert starts(limiter, METHOD, bodies) == [True, True, False]


def test_identifiers_are_normalised_as_the_providers_check_them() -> None:
    from eid_broker import identifiers

    assert identifiers.phone("+372 5555 0000") == identifiers.phone("00372-5555-0000") == "+37255550000"
    assert identifiers.personal_code("lv", "050405-10009") == "LV05040510009"
    assert identifiers.personal_code("EE", CODE) != identifiers.personal_code("LT", CODE)
    assert identifiers.user_id("ＡＬＩＣＥ") == identifiers.user_id("alice") == "alice"
    assert identifiers.user_id("STRASSE") == identifiers.user_id("straße")
