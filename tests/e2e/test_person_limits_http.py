"""Person limits over HTTP on a `make run` stack with the default limit (3 per 120 s): they count what a
provider checks, after normalising, so a stranger cannot lock a person out with the person's phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Stack, launch, stop

pytestmark = pytest.mark.e2e

VICTIM_PHONE, VICTIM_CODE = "+37200000766", "60001019906"
OTHER_CODES = ("38001085718", "50001029996", "60001019939")  # valid Estonian codes of other people


@pytest.fixture(scope="module")
def limited() -> Iterator[Stack]:
    running = launch(PERSON_START_LIMIT="3", PERSON_START_WINDOW_SECONDS="120")
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
