"""One webhook attempt over HTTP, ended at a hard deadline whatever the receiver does.

A socket timeout bounds each read, not the request: a receiver that trickles one byte a second would
keep an attempt open for as long as it likes. Here every step (connect, TLS, sending, each read) gets
only the time left, and a watchdog shuts the socket down at the deadline, which ends a read that is
blocked mid-way. The connection goes to the address the guard checked (`Target.address`).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from functools import cache

from eid_broker.webhooks.targets import TIMEOUT_SECONDS, Target

READ_AT_MOST = 64 * 1024  # a receiver's answer is not used; read a little and let go


class AttemptFailed(Exception):
    """An attempt that got no HTTP status; `reason` is what the delivery records (never the URL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@cache
def _tls() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("webhook attempt deadline")
        return left

    def passed(self) -> bool:
        return time.monotonic() >= self.at


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to the checked address, the URL's host for SNI and the certificate; every socket
    operation bounded by the time left."""

    def __init__(self, target: Target, deadline: _Deadline) -> None:
        super().__init__(target.address, target.port, timeout=deadline.left())
        self._target = target
        self._deadline = deadline
        self._closing = threading.Lock()

    def connect(self) -> None:
        raw = socket.create_connection((self._target.address, self._target.port), self._deadline.left())
        self.sock = raw
        if self._target.scheme == "https":
            raw.settimeout(self._deadline.left())
            self.sock = _tls().wrap_socket(raw, server_hostname=self._target.host)
        self.sock.settimeout(self._deadline.left())

    def bound_next_step(self) -> None:
        if self.sock is not None:
            self.sock.settimeout(self._deadline.left())

    def abort(self) -> None:
        """The watchdog: end any blocked send or read now (the base method: no TLS goodbye)."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _host_header(target: Target) -> str:
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default_port else f"{host}:{target.port}"


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST once to the pinned address within `timeout` seconds in all; the HTTP status (a redirect is
    an answer, never followed). Raises AttemptFailed with `timeout`, `tls_error` or `connection_error`."""
    deadline = _Deadline(timeout)
    connection: _PinnedConnection | None = None
    watchdog: threading.Timer | None = None
    try:
        connection = _PinnedConnection(target, deadline)
        watchdog = threading.Timer(timeout, connection.abort)
        watchdog.daemon = True
        watchdog.start()
        connection.request("POST", target.path, body=body, headers={**headers, "Host": _host_header(target)})
        connection.bound_next_step()
        response = connection.getresponse()
        left = READ_AT_MOST
        while left > 0:
            connection.bound_next_step()
            chunk = response.read1(left) if not response.isclosed() else b""
            if not chunk:
                break
            left -= len(chunk)
        if deadline.passed():
            raise TimeoutError("webhook attempt deadline")
        return int(response.status)
    except ssl.SSLError as exc:
        raise AttemptFailed("timeout" if deadline.passed() else "tls_error") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        timed_out = deadline.passed() or isinstance(exc, socket.timeout)
        raise AttemptFailed("timeout" if timed_out else "connection_error") from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if connection is not None:
            connection.close()
