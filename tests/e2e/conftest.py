"""Starts the real `make run` stack (python -m local) once per test session, and stops it."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import wiring

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "e2e-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, process: subprocess.Popen[str], url: str, output: list[str]) -> None:
        self.process = process
        self.url = url
        self.output = output
        self.http = requests.Session()
        self.http.headers["x-api-key"] = API_KEY

    def start(self, method: str, body: dict, **headers: str) -> requests.Response:
        return self.http.post(f"{self.url}/v1/sessions/{method}", json=body, headers=headers, timeout=30)

    def get(self, session_id: str) -> requests.Response:
        return self.http.get(f"{self.url}/v1/sessions/{session_id}", timeout=30)

    def wait_final(self, session_id: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            session = self.get(session_id).json()
            if session["status"] != "pending":
                return session
            time.sleep(0.25)
        raise AssertionError(f"session still pending after {timeout} s")

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_local/stats", timeout=10).json()

    def progress(self) -> dict:
        return requests.get(f"{self.url}/_local/progress", timeout=10).json()

    def settle(self, *session_ids: str, timeout: float = 30) -> None:
        """Until nothing that could still act is under way, read off the stack's progress counters (never a
        fixed sleep): the sessions' poll loops have ended, every stream has been read through twice since
        this call (so a record written before it has reached its function), no queue batch is being
        handled and no message waits in a function's queue."""
        mark = self.progress()["stream_passes"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.progress()
            if (
                all(now["stream_passes"].get(name, 0) >= passes + 2 for name, passes in mark.items())
                and now["queue_batches_in_flight"] == 0
                and now["queued_messages"] == 0
                and not set(session_ids) & set(now["running_executions"])
            ):
                return
            time.sleep(0.1)
        raise AssertionError(f"the stack is still busy after {timeout} s: {self.progress()}")

    def logs(self) -> str:
        return "\n".join(self.output)

    def metrics(self, name: str) -> list[dict]:
        """The Embedded Metric Format lines (`[function] {"_aws": …}`) that carry metric `name`."""
        emf = (line.partition("] ")[2] for line in list(self.output))
        return [found for text in emf if text.startswith('{"_aws"') and name in (found := json.loads(text))]


def launch(**overrides: str) -> Stack:
    """`python -m local` in its own process group, as `make run` runs it; returns once it is ready."""
    port = free_port()
    # The built-in sandboxes, whatever the developer's shell points at (an override may point away).
    prefixes = tuple(f"{prefix}_" for prefix in wiring.provider_prefixes())
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
    env = {
        **inherited,
        "LOCAL_API_KEY": API_KEY,
        "POLL_INTERVAL_SECONDS": "1",
        "SESSION_TIMEOUT_SECONDS": "6",
        "DOKOBIT_SANDBOX_OK_AFTER": "1.5",
        "MARKSIGN_SANDBOX_OK_AFTER": "1.5",
        "MOBBID_SANDBOX_STEP_SECONDS": "0.3",
        "PYTHONUNBUFFERED": "1",
        # The suite reuses the sandboxes' few test persons; the person limit is tested on its own stack.
        "PERSON_START_LIMIT": "0",
        **overrides,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 90
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = ""
        if "eid-broker is ready on" in line:
            return Stack(process, f"http://127.0.0.1:{port}", output)
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("local stack did not start:\n" + "\n".join(output[-40:]))


def stop(stack: Stack, sig: int = signal.SIGTERM) -> int:
    """Signal the stack and wait for it; returns its exit code. Kills the whole group if it hangs."""
    stack.process.send_signal(sig)
    try:
        return stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(stack.process.pid, signal.SIGKILL)
        raise


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    running = launch()
    yield running
    stop(running)
