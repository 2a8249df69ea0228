"""The security review's findings tried over HTTP on a `make run` stack, as an attacker would: two API
keys (two integrators), the default person limit, and Dokobit pointed away from its built-in sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.e2e.conftest import Stack, launch, stop

pytestmark = pytest.mark.e2e

KEY_A, KEY_B = "integrator-a-key", "integrator-b-key"
DOKOBIT_TOKEN = "dokobit-token-from-the-environment"


@pytest.fixture(scope="module")
def secure() -> Iterator[Stack]:
    running = launch(
        LOCAL_API_KEY=f"{KEY_A},{KEY_B}",
        PERSON_START_LIMIT="3",
        PERSON_START_WINDOW_SECONDS="120",
        DOKOBIT_BASE_URL="http://127.0.0.1:9",
        DOKOBIT_ACCESS_TOKEN=DOKOBIT_TOKEN,
    )
    running.http.headers["x-api-key"] = KEY_A
    yield running
    stop(running)


def as_b(stack: Stack) -> requests.Session:
    session = requests.Session()
    session.headers["x-api-key"] = KEY_B
    return session


def calls(stack: Stack, provider: str) -> dict[str, int]:
    return stack.stats()["sandboxes"][provider]["calls"]


def concurrently(count: int, work: Callable[[int], requests.Response]) -> list[requests.Response]:
    barrier = threading.Barrier(count)
    answers: list[requests.Response] = []

    def run(n: int) -> None:
        barrier.wait()
        answers.append(work(n))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_an_otp_minted_through_the_otp_manager_never_logs_in_a_mosip_user(secure: Stack) -> None:
    minted = secure.http.post(f"{secure.url}/v1/mosip/otp/generate", json={"key": "alice"}, timeout=10)
    assert minted.status_code == 200 and minted.json()["status"] == "GENERATION_SUCCESSFUL"
    session = secure.start("mosip-otp", {"user_id": "alice", "user_id_type": "USERID", "channels": ["email"]})
    assert session.status_code == 201, session.text

    url = f"{secure.url}/v1/sessions/{session.json()['session_id']}/otp"
    answer = secure.http.post(url, json={"otp": minted.json()["otp"]}, timeout=10).json()

    assert answer["status"] == "pending" and answer["next_action"]["attempts_left"] == 2
    assert "credentials" not in answer
    # and another integrator cannot consume integrator A's key
    stolen = as_b(secure).post(
        f"{secure.url}/v1/mosip/otp/validate", json={"key": "alice", "otp": minted.json()["otp"]}, timeout=10
    )
    assert stolen.status_code == 200 and stolen.json()["valid"] is False


def test_ten_concurrent_wrong_otps_reach_mosip_at_most_three_times(secure: Stack) -> None:
    session = secure.start("mosip-otp", {"user_id": "alice", "user_id_type": "USERID", "channels": ["email"]})
    url = f"{secure.url}/v1/sessions/{session.json()['session_id']}/otp"
    before = calls(secure, "mosip")["useridOTP"]

    answers = concurrently(10, lambda n: secure.http.post(url, json={"otp": f"{910000 + n}"}, timeout=30))

    assert calls(secure, "mosip")["useridOTP"] - before <= 3
    assert sorted({a.status_code for a in answers}) <= [200, 409]
    final = secure.get(session.json()["session_id"]).json()
    assert final["status"] == "failed" and final["error"]["code"] == "OTP_ATTEMPTS_EXHAUSTED"


def test_the_eeid_listing_and_sessions_stay_with_their_api_key(secure: Stack) -> None:
    mine = secure.start("eeid", {"subject": "EE30303039914"}).json()["session_id"]
    theirs = (
        as_b(secure)
        .post(f"{secure.url}/v1/sessions/eeid", json={"subject": "EE60001017869"}, timeout=30)
        .json()["session_id"]
    )

    listing = secure.http.get(f"{secure.url}/v1/eeid/identifications?page_size=100", timeout=10)

    assert listing.status_code == 200
    listed = {item["session_id"] for item in listing.json()["items"]}
    assert mine in listed and theirs not in listed
    assert "60001017869" not in listing.text and "TESTNUMBER" not in listing.text
    assert secure.get(theirs).status_code == 404
    assert as_b(secure).get(f"{secure.url}/v1/sessions/{mine}", timeout=10).status_code == 404


def test_a_phone_gets_at_most_three_prompts_across_api_keys(secure: Stack) -> None:
    body = {"phone": "+37269000366", "personal_code": "60001017705"}
    logins = calls(secure, "marksign")["login"]
    first = [secure.start("marksign-mobile-id", body), secure.start("marksign-mobile-id", body)]
    third = as_b(secure).post(f"{secure.url}/v1/sessions/marksign-mobile-id", json=body, timeout=30)
    fourth = as_b(secure).post(f"{secure.url}/v1/sessions/marksign-mobile-id", json=body, timeout=30)

    assert [r.status_code for r in [*first, third]] == [201, 201, 201]
    assert fourth.status_code == 429 and fourth.json()["code"] == "PERSON_RATE_LIMITED"
    assert 1 <= int(fourth.headers["Retry-After"]) <= 120
    assert fourth.headers["Content-Type"].startswith("application/problem+json")
    assert "37269000366" not in fourth.text and "60001017705" not in fourth.text
    assert calls(secure, "marksign")["login"] - logins == 3


def test_concurrent_otp_starts_for_one_person_send_exactly_three_otps(secure: Stack) -> None:
    before = calls(secure, "mosip")["sendotp"]
    body = {"user_id": "carol", "user_id_type": "USERID", "channels": ["phone"]}

    answers = concurrently(10, lambda n: secure.start("mosip-otp", body))

    assert sorted(a.status_code for a in answers) == [201] * 3 + [429] * 7
    assert calls(secure, "mosip")["sendotp"] - before == 3


def test_the_banner_shows_no_test_person_or_secret_when_dokobit_is_not_the_sandbox(secure: Stack) -> None:
    banner = "\n".join(
        secure.output[: next(i for i, line in enumerate(secure.output) if "is ready on" in line)]
    )
    assert "dokobit" in banner and "from DOKOBIT_BASE_URL" in banner
    assert "+37200000766" not in banner and "60001019906" not in banner
    assert DOKOBIT_TOKEN not in "\n".join(secure.output)
