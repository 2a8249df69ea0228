"""One webhook attempt ends at its deadline whatever the receiver does: real sockets on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from eid_broker.webhooks.targets import Target
from eid_broker.webhooks.transport import AttemptFailed, post

GRACE = 0.5


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket], None]], Target]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve(behaviour: Callable[[socket.socket], None]) -> Target:
        def run() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=behaviour, args=(connection,), daemon=True).start()

        threading.Thread(target=run, daemon=True).start()
        return Target("http", "127.0.0.1", listener.getsockname()[1], "127.0.0.1", "/hooks")

    yield serve
    stop.set()
    listener.close()


def read_request(connection: socket.socket) -> None:
    """The whole request, body included (closing on unread data would reset the connection)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(4096)


def trickle(payload: bytes, every: float) -> Callable[[socket.socket], None]:
    def behaviour(connection: socket.socket) -> None:
        try:
            read_request(connection)
            for byte in payload:
                connection.sendall(bytes([byte]))
                time.sleep(every)
        except OSError:
            pass
        finally:
            connection.close()

    return behaviour


def attempt(target: Target, timeout: float) -> tuple[int | str, float]:
    started = time.monotonic()
    try:
        result: int | str = post(target, b"{}", {"content-type": "application/json"}, timeout=timeout)
    except AttemptFailed as failed:
        result = failed.reason
    return result, time.monotonic() - started


def test_a_prompt_answer_is_its_status(server) -> None:  # type: ignore[no-untyped-def]
    target = server(trickle(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0))
    assert attempt(target, 2)[0] == 204


def test_a_status_line_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline(server) -> None:  # type: ignore[no-untyped-def]
    target = server(trickle(b"HTTP/1.1 200 OK\r\n" * 50, 0.1))
    result, took = attempt(target, 1.0)
    assert result == "timeout"
    assert 1.0 - 0.05 <= took < 1.0 + GRACE


def test_a_body_trickled_after_a_2xx_is_cut_off_too(server) -> None:  # type: ignore[no-untyped-def]
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    target = server(trickle(head + b"x" * 1000, 0.05))
    result, took = attempt(target, 1.5)
    assert result == "timeout"
    assert took < 1.5 + GRACE


def test_a_receiver_that_never_answers_is_cut_off(server) -> None:  # type: ignore[no-untyped-def]
    def silent(connection: socket.socket) -> None:
        time.sleep(5)
        connection.close()

    target = server(silent)
    result, took = attempt(target, 0.8)
    assert result == "timeout" and took < 0.8 + GRACE


def test_a_tls_handshake_that_never_ends_is_cut_off(server) -> None:  # type: ignore[no-untyped-def]
    plain = server(trickle(b"\x16\x03\x01", 0.3))
    target = Target("https", "hooks.example", plain.port, "127.0.0.1", "/hooks")
    result, took = attempt(target, 0.8)
    assert result in ("timeout", "tls_error") and took < 0.8 + GRACE


def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result, _ = attempt(Target("http", "127.0.0.1", port, "127.0.0.1", "/"), 2)
    assert result == "connection_error"


def test_no_time_left_is_a_timeout_not_an_error() -> None:
    result, took = attempt(Target("http", "127.0.0.1", 9, "127.0.0.1", "/"), 0)
    assert result == "timeout" and took < 0.1
