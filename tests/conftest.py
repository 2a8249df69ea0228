"""Shared fixtures: fake AWS credentials, fresh caches per test, a real Dokobit sandbox over loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from werkzeug.serving import BaseWSGIServer, make_server

from eid_broker import aws, config
from eid_broker.sessions import service
from local.sandboxes.dokobit import DokobitSandbox
from local.sandboxes.marksign import MarkSignSandbox

ACCESS_TOKEN = "sandbox-dokobit-token"
MARKSIGN_TOKEN = "sandbox-marksign-token"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_DEFAULT_REGION": "eu-north-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "eid-broker",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    for cached in (config.process_settings, aws.client, service.default_service):
        if hasattr(cached, "cache_clear"):  # an integration test may have replaced one
            cached.cache_clear()
    parameters.clear_caches()


class Served:
    def __init__(self, app: Any, server: BaseWSGIServer) -> None:
        self.app = app
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"


def serve(app: Any) -> Iterator[Served]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Served(app, server)
    server.shutdown()


@pytest.fixture
def dokobit() -> Iterator[Served]:
    """The Dokobit sandbox on a loopback port; the person confirms 0.5 s after login."""
    yield from serve(DokobitSandbox(access_token=ACCESS_TOKEN, ok_after=0.5, session_ttl=60))


@pytest.fixture
def marksign() -> Iterator[Served]:
    """The MarkSign sandbox on a loopback port; the person confirms 0.5 s after login."""
    yield from serve(MarkSignSandbox(access_token=MARKSIGN_TOKEN, ok_after=0.5, session_ttl=60))
