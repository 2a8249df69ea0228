"""The per-person and per-key limits over HTTP on a `make run` stack: the default person limit (3 per
120 s), which counts what a provider checks after normalising, so a stranger cannot lock a person out
with the person's phone; and small per-key limits (long-poll waits, password failures)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import Stack, launch, stop

pytestmark = pytest.mark.e2e

VICTIM_PHONE, VICTIM_CODE = "+37200000766", "60001019906"
OTHER_CODES = ("38001085718", "50001029996", "60001019939")  # valid Estonian codes of other people


@pytest.fixture(scope="module")
def limited() -> Iterator[Stack]:
    running = launch(
        PERSON_START_LIMIT="3",
        PERSON_START_WINDOW_SECONDS="120",
        LONG_POLL_MAX_PER_KEY="2",
        PASSWORD_FAILURE_LIMIT="2",
        PASSWORD_FAILURE_WINDOW_SECONDS="60",
    )
    yield running
    stop(running)


def test_starts_with_a_victims_phone_and_other_codes_do_not_lock_the_victim_out(limited: Stack) -> None:
    attack = [
        limited.start("dokobit-mobile-id", {"phone": VICTIM_PHONE, "personal_code": code})
        for code in OTHER_CODES
    ]
    assert [answer.status_code for answer in attack] == [201, 201, 201]

    own = limited.start("dokobit-mobile-id", {"phone": VICTIM_PHONE, "personal_code": VICTIM_CODE})

    assert own.status_code == 201, own.text
    assert limited.wait_final(own.json()["session_id"])["status"] == "completed"


def test_mosip_user_ids_are_one_person_whatever_their_case(limited: Stack) -> None:
    body = {"user_id_type": "USERID", "channels": ["phone"]}
    spellings = ("carol", "Carol", "CAROL", "cArOl")
    answers = [limited.start("mosip-otp", {**body, "user_id": user}) for user in spellings]

    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "PERSON_RATE_LIMITED" and int(refused.headers["Retry-After"]) > 0


def test_long_polls_beyond_the_keys_cap_are_429_and_a_plain_read_never_is(limited: Stack) -> None:
    body = {"user_id": "alice", "user_id_type": "USERID", "channels": ["email"]}
    session_id = limited.start("mosip-otp", body).json()["session_id"]  # pending until its OTP expires
    url = f"{limited.url}/v1/sessions/{session_id}"
    barrier = threading.Barrier(3)
    answers: list[tuple[requests.Response, float]] = []

    def long_poll() -> None:
        barrier.wait()
        began = time.monotonic()
        answer = limited.http.get(url, params={"wait": 10}, timeout=30)
        answers.append((answer, time.monotonic() - began))

    threads = [threading.Thread(target=long_poll) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    plain = limited.http.get(url, params={"wait": 0}, timeout=30)
    for thread in threads:
        thread.join()

    assert plain.status_code == 200 and plain.json()["status"] == "pending"
    assert sorted(answer.status_code for answer, _ in answers) == [200, 200, 429]
    ((refused, took),) = [(answer, took) for answer, took in answers if answer.status_code == 429]
    assert refused.json()["code"] == "TOO_MANY_WAITS" and refused.headers["Retry-After"] == "1"
    assert took < 9  # refused without waiting (a cold start of a third worker may take a few seconds)
    # the slots are given back: the next long-poll waits again
    assert limited.http.get(url, params={"wait": 1}, timeout=30).status_code == 200


def test_password_guessing_is_refused_after_the_limit_without_asking_mosip(limited: Stack) -> None:
    def login(username: str, password: str) -> requests.Response:
        return limited.start("mosip-password", {"username": username, "password": password})

    guesses = [login(name, "guess") for name in ("alice", "Alice")]  # PASSWORD_FAILURE_LIMIT=2
    assert [g.json()["error"]["code"] for g in guesses] == ["INVALID_CREDENTIALS"] * 2
    asked = limited.stats()["sandboxes"]["mosip"]["calls"]["useridPwd"]

    refused = login("ALICE", "alice-password")

    assert refused.status_code == 429 and refused.json()["code"] == "PERSON_RATE_LIMITED"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert limited.stats()["sandboxes"]["mosip"]["calls"]["useridPwd"] == asked  # MOSIP was not asked
