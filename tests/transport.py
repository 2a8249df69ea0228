"""A WSGI app (a provider sandbox, a test's fake provider) mounted into a ``requests.Session``.

The client side is untouched: requests, urllib3's pool and its retries (the session's own ``Retry``),
http.client writing and parsing real HTTP/1.1. Only the connection differs: instead of a TCP socket to a
loopback server, each connection is one end of an in-process unix socket pair whose other end werkzeug's
request handler serves. Unit tests run with sockets disabled (pytest-socket) except unix ones, so nothing
here touches the network and no port is ever bound.
"""

from __future__ import annotations

import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from werkzeug.serving import WSGIRequestHandler

BASE_URL = "http://sandbox.test"


class _Server:
    """What werkzeug's request handler asks of its server."""

    multithread = True
    multiprocess = False
    ssl_context = None
    passthrough_errors = False
    _server_version = "werkzeug"

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self.server_address = (host, port)

    def log(self, kind: str, message: str, *args: Any) -> None:
        return None


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as werkzeug's threaded server speaks

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def _serve(server: _Server | None, sock: socket.socket) -> None:
    try:
        if server is not None:  # None: the peer drops every connection at once
            _Handler(sock, ("127.0.0.1", 0), server)  # type: ignore[arg-type]
    except OSError:
        pass  # the client went away mid-answer
    finally:
        sock.close()


class WSGIAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections reach `app` in this process; ``app=None`` drops each connection
    as soon as it is made (what a provider behind a broken load balancer does)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        app = self.app

        class Connection(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                ours, theirs = socket.socketpair()
                server = None if app is None else _Server(app, self.host, self.port or 80)
                threading.Thread(target=_serve, args=(server, theirs), daemon=True).start()
                return ours

        class Pool(HTTPConnectionPool):
            ConnectionCls = Connection

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": Pool}


def mount(session: requests.Session, app: Any, base_url: str = BASE_URL) -> str:
    """Route `session`'s requests for `base_url` to `app`, keeping the retries the session was made with;
    returns `base_url`, the provider URL to give the client."""
    current = session.get_adapter(base_url)
    retries = current.max_retries if isinstance(current, HTTPAdapter) else 0
    session.mount(f"{base_url.rstrip('/')}/", WSGIAdapter(app, max_retries=retries))
    assert urlsplit(base_url).scheme == "http", "an in-process app speaks plain HTTP"
    return base_url
