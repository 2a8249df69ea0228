"""`make run` stops cleanly on Ctrl-C and SIGTERM, its Lambda worker processes included."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.conftest import API_KEY, group_alive, launch, stop

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_stack_stops_cleanly_with_its_workers(sig: int) -> None:
    stack = launch(LOCAL_API_KEY=API_KEY)
    started = stack.start("dokobit-mobile-id", {"phone": "+37200000766", "personal_code": "60001019906"})
    assert started.status_code == 201  # start and poll workers are running now
    workers = stack.stats()["lambda"]
    assert sum(function["cold_starts"] for function in workers.values()) >= 1

    assert stop(stack, sig) == 0

    deadline = time.monotonic() + 5
    while group_alive(stack.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(stack.process.pid), "a worker process outlived the stack"
    assert "Traceback" not in stack.logs()
