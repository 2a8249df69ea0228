"""An integrator's webhook receiver, for the bench: a threaded HTTP server on loopback that verifies each
delivery with the ``standardwebhooks`` library (as docs/api.md tells integrators to) and records when it
came."""

from __future__ import annotations

import binascii
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Arrival:
    """One delivery attempt as the receiver saw it."""

    webhook_id: str
    event_type: str
    session_id: str | None
    status: str | None  # the session's, as the event carries it
    updated_at: float | None  # the session's final write (epoch seconds), from the event's data
    received_at: float  # epoch seconds, when the body had been read
    verified: bool
    answered: int  # the HTTP status the receiver answered
    size: int  # body bytes


@dataclass
class WebhookReceiver:
    """``start()`` serves on 127.0.0.1 (a free port); event types in ``failing`` are answered 503."""

    secret: str = ""
    failing: set[str] = field(default_factory=set)
    arrivals: list[Arrival] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver._arrived(self, body, time.time())

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-receiver").start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _arrived(self, request: BaseHTTPRequestHandler, body: bytes, at: float) -> None:
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
            verified = True
        except (WebhookVerificationError, ValueError, binascii.Error):
            event, verified = json.loads(body or b"{}"), False
        data = event.get("data") or {}
        answered = 400 if not verified else 503 if event.get("type") in self.failing else 204
        arrival = Arrival(
            str(request.headers.get("webhook-id")),
            str(event.get("type")),
            data.get("session_id"),
            data.get("status"),
            epoch(data["updated_at"]) if data.get("updated_at") else None,
            at,
            verified,
            answered,
            len(body),
        )
        with self._lock:
            self.arrivals.append(arrival)
        request.send_response(answered)
        request.send_header("content-length", "0")
        request.end_headers()

    def taken(self) -> list[Arrival]:
        """The arrivals so far, forgotten here."""
        with self._lock:
            arrivals, self.arrivals = self.arrivals, []
        return arrivals
