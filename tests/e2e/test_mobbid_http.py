"""MobbID as a new user meets it with `make run`: gateway page, redirect back, server-side confirmation."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("choice", "status", "code"),
    [
        ("verified", "completed", None),
        ("not_same_person", "failed", "BIOMETRIC_MISMATCH"),
        ("error", "failed", "BIOMETRIC_ERROR"),
    ],
)
def test_the_person_chooses_at_the_gateway_and_the_broker_confirms_it(
    stack: Stack, choice: str, status: str, code: str | None
) -> None:
    started = stack.start(
        "mobbid-face", {"user_id": "alice", "return_url": "https://shop.example/back?order=7"}
    )
    assert started.status_code == 201, started.text
    session = started.json()
    gateway = session["next_action"]["url"]
    assert "MobbID sandbox" in requests.get(gateway, timeout=10).text

    chosen = requests.post(f"{gateway}/choose", data={"choice": choice}, allow_redirects=False, timeout=10)
    assert chosen.status_code == 302
    assert chosen.headers["Location"].startswith("https://shop.example/back?order=7&processId=")
    # the redirect proves nothing: the session is still pending until MobbID's own records say otherwise
    assert stack.get(session["session_id"]).json()["status"] == "pending"

    final = stack.wait_final(session["session_id"], timeout=30)
    assert final["status"] == status
    assert (final["error"] or {}).get("code") == code
    if status == "completed":
        assert final["identity"]["subject"] == "alice"
        assert final["identity"]["evidence"]["scores"]["MATCHING"] > 0.9


def test_bad_return_url_is_422_before_mobbid_is_called(stack: Stack) -> None:
    before = stack.stats()["sandboxes"]["mobbid"]["calls"]["create"]
    refused = stack.start("mobbid-face", {"user_id": "alice", "return_url": "http://shop.example/back"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "return_url"
    assert stack.stats()["sandboxes"]["mobbid"]["calls"]["create"] == before
