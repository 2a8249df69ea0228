"""MOSIP as a new user meets it with `make run`: the OTP printed in the console, a password login."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def printed_otp(stack: Stack, user: str, since: int = 0) -> str:
    """The latest OTP the MOSIP sandbox printed for `user` (after output line `since`)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in reversed(stack.output[since:]):
            match = re.search(rf"MOSIP sandbox OTP for user {user} \(.*\): (\d+)", line)
            if match:
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError("no OTP printed")


def test_otp_login_with_the_code_from_the_console(stack: Stack) -> None:
    started = stack.start("mosip-otp", {"user_id": "carol", "user_id_type": "USERID", "channels": ["phone"]})
    assert started.status_code == 201, started.text
    session = started.json()
    assert session["next_action"]["type"] == "enter_otp" and session["next_action"]["attempts_left"] == 3
    otp = printed_otp(stack, "carol")

    url = f"{stack.url}/v1/sessions/{session['session_id']}/otp"
    wrong = stack.http.post(url, json={"otp": "00000000" if otp != "00000000" else "11111111"}, timeout=10)
    assert wrong.status_code == 200 and wrong.json()["next_action"]["attempts_left"] == 2
    right = stack.http.post(url, json={"otp": otp}, timeout=10)
    assert right.status_code == 200
    assert right.json()["status"] == "completed" and right.json()["credentials"]["token"]
    assert "credentials" not in stack.get(session["session_id"]).json()
    assert stack.http.post(url, json={"otp": otp}, timeout=10).status_code == 409


def test_password_login_then_validate_and_invalidate(stack: Stack) -> None:
    done = stack.start("mosip-password", {"username": "alice", "password": "alice-password"})
    assert done.status_code == 201 and done.json()["status"] == "completed"
    token = done.json()["credentials"]["token"]
    check = stack.http.post(f"{stack.url}/v1/mosip/tokens/validate", json={"token": token}, timeout=10)
    assert check.json()["valid"] is True and check.json()["user_id"] == "alice"
    stack.http.post(f"{stack.url}/v1/mosip/tokens/invalidate", json={"token": token}, timeout=10)
    check = stack.http.post(f"{stack.url}/v1/mosip/tokens/validate", json={"token": token}, timeout=10)
    assert check.json()["valid"] is False
    ready = next(i for i, line in enumerate(stack.output) if "is ready on" in line)
    assert token not in "\n".join(stack.output[ready:]) and "alice-password" not in "\n".join(stack.output)
