"""Smart-ID through Dokobit and MarkSign over HTTP, as a new user tries it on `make run`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
METHODS = ("dokobit-smart-id", "marksign-smart-id")
# persona (README) → (country, personal code, status, error code)
PERSONAS = {
    "sid-ok-ee": ("EE", "40504040001", "completed", None),
    "sid-ok-lt": ("LT", "40504040001", "completed", None),
    "sid-ok-lv": ("LV", "05040510009", "completed", None),  # without the hyphen: the broker adds it
    "sid-flaky": ("LT", "50001029996", "completed", None),
    "sid-refused": ("LV", "030403-10016", "failed", "USER_CANCELLED"),
    "sid-wrong-vc": ("EE", "30403039972", "failed", "USER_CANCELLED"),
    "sid-timeout": ("LT", "30403039983", "expired", "TIMEOUT"),
    "sid-unusable": ("EE", "49901010040", "failed", "ACCOUNT_UNUSABLE"),
    "sid-not-qualified": ("LV", "050404-19993", "failed", "ACCOUNT_UNUSABLE"),
    "sid-no-account": ("EE", "39901010038", "failed", "NOT_SMART_ID_USER"),
}


@pytest.mark.parametrize("method", METHODS)
def test_the_ee_demo_account_shows_a_control_code_then_the_identity(method: str, stack: Stack) -> None:
    started = stack.start(method, {"personal_code": "40504040001", "country": "EE"})

    assert started.status_code == 201, started.text
    session = started.json()
    assert session["method"] == method and session["status"] == "pending"
    assert session["next_action"]["type"] == "show_control_code"
    assert len(session["next_action"]["control_code"]) == 4
    final = stack.wait_final(session["session_id"])
    assert final["status"] == "completed", final
    identity = final["identity"]
    assert identity["subject"] == "PNOEE-40504040001" and identity["given_name"] == "ONA"
    assert identity["certificate"]["pem"].startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("method", METHODS)
def test_every_persona_ends_in_its_documented_state(method: str, stack: Stack) -> None:
    def run(persona: str) -> tuple[str, dict]:
        country, code, _, _ = PERSONAS[persona]
        started = stack.start(method, {"country": country, "personal_code": code, "reference": persona})
        assert started.status_code == 201, (persona, started.text)
        return persona, stack.wait_final(started.json()["session_id"])

    with ThreadPoolExecutor(max_workers=len(PERSONAS)) as pool:
        finals = dict(pool.map(run, PERSONAS))

    for persona, (_, _, status, error) in PERSONAS.items():
        final = finals[persona]
        assert (final["status"], (final["error"] or {}).get("code")) == (status, error), (persona, final)
    assert finals["sid-ok-lv"]["identity"]["personal_code"] == "050405-10009"


def test_a_marksign_smart_id_cancel_reaches_marksign(stack: Stack) -> None:
    calls = lambda: stack.stats()["sandboxes"]["marksign"]["calls"].get("smartid_delete", 0)  # noqa: E731
    before = calls()
    started = stack.start("marksign-smart-id", {"country": "LT", "personal_code": "30403039983"}).json()
    cancelled = stack.http.delete(f"{stack.url}/v1/sessions/{started['session_id']}", timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    deadline = time.monotonic() + 15  # the next poll abandons it at MarkSign
    while calls() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert calls() == before + 1
