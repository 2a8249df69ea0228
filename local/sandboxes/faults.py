"""Seeded fault injection for the built-in sandboxes (`SANDBOX_FAULT_RATE`, `SANDBOX_FAULT_SEED`).

A share of the providers' API answers becomes one of the faults a real provider shows: a 5xx, a 429
with Retry-After, an answer slower than the broker waits, a dropped connection, or malformed JSON.
The same seed gives the same sequence of draws, so a failing run can be replayed.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

KINDS = ("http_503", "http_429", "slow", "dropped", "malformed")
_ANSWERS = {  # kind -> HTTP status, body, headers ("dropped" closes the connection instead)
    "http_503": (503, '{"message": "injected fault"}', {}),
    "http_429": (429, '{"message": "slow down"}', {"Retry-After": "1"}),
    "slow": (503, '{"message": "late"}', {}),
    "malformed": (200, '{"status": "ok", "token": ', {}),
}


class FaultInjector:
    def __init__(self, rate: float, seed: int | str = 0, *, slow_seconds: float = 2.0) -> None:
        if not 0 <= rate < 1:
            raise ValueError("SANDBOX_FAULT_RATE must be in [0, 1)")
        self.rate = rate
        self.slow_seconds = slow_seconds
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FaultInjector | None:
        rate = float(environ.get("SANDBOX_FAULT_RATE") or 0)
        if rate <= 0:
            return None
        return cls(
            rate,
            environ.get("SANDBOX_FAULT_SEED") or "0",
            slow_seconds=float(environ.get("SANDBOX_FAULT_SLOW_SECONDS") or 2.0),
        )

    def draw(self) -> str | None:
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(KINDS)
            self.counts[kind] += 1
            return kind

    def respond(self, kind: str, request: Request) -> Response:
        if kind == "dropped":
            connection: Any = request.environ.get("werkzeug.socket")
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            return Response(b"", 500)
        if kind == "slow":
            time.sleep(self.slow_seconds)
        status, body, headers = _ANSWERS[kind]
        return Response(body, status, content_type="application/json", headers=headers)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
