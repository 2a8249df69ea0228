"""Shared fixtures: fake AWS credentials, fresh caches per test, a real Dokobit sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from werkzeug.serving import BaseWSGIServer, make_server

from eid_broker import aws, config, tokens, wiring
from local.sandboxes import CREDENTIALS
from local.sandboxes.dokobit import DokobitSandbox
from local.sandboxes.eeid import EeidSandbox
from local.sandboxes.marksign import MarkSignSandbox
from local.sandboxes.mobbid import MobbidSandbox
from local.sandboxes.mosip import MosipSandbox

# The sandboxes' default credentials, as `make run` puts them into the providers' secrets.
ACCESS_TOKEN = CREDENTIALS["dokobit"]["access_token"]
MARKSIGN_TOKEN = CREDENTIALS["marksign"]["access_token"]
EEID_CLIENT = (CREDENTIALS["eeid"]["client_id"], CREDENTIALS["eeid"]["client_secret"])
MOBBID_CREDENTIALS = (CREDENTIALS["mobbid"]["application_id"], CREDENTIALS["mobbid"]["api_key"])
MOSIP_CREDENTIALS = (CREDENTIALS["mosip"]["client_id"], CREDENTIALS["mosip"]["secret_key"])


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
    for cached in (
        config.process_settings,
        aws.client,
        aws.secrets_provider,
        wiring.service_for,
        tokens.shared_cache,
    ):
        if hasattr(cached, "cache_clear"):  # an integration test may have replaced one
            cached.cache_clear()
    parameters.clear_caches()


def create_table(client: Any, name: str, key: str, sort_key: str | None = None) -> None:
    """An on-demand table keyed by string attributes: `key`, and `sort_key` when given."""
    keys = [(key, "HASH"), *([(sort_key, "RANGE")] if sort_key else [])]
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": attribute, "KeyType": kind} for attribute, kind in keys],
        AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"} for attribute, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )


@contextlib.contextmanager
def moto_table(name: str, key: str) -> Iterator[Any]:
    """A moto DynamoDB client with one on-demand table keyed by `key` (a string hash key)."""
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, name, key)
        yield client


class Served:
    def __init__(self, app: Any, server: BaseWSGIServer) -> None:
        self.app = app
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"


def serve(app: Any) -> Iterator[Served]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for it, and every integration test stops five servers.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Served(app, server)
    server.shutdown()


def dokobit_app() -> DokobitSandbox:
    """The Dokobit sandbox; the person confirms 0.5 s after login."""
    return DokobitSandbox(access_token=ACCESS_TOKEN, ok_after=0.5, session_ttl=60)


def marksign_app() -> MarkSignSandbox:
    """The MarkSign sandbox; the person confirms 0.5 s after login."""
    return MarkSignSandbox(access_token=MARKSIGN_TOKEN, ok_after=0.5, session_ttl=60)


class ShiftedClock:
    """A sandbox's clock that a test can move forward (token expiry at the provider)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def eeid_app() -> EeidSandbox:
    """The eeID sandbox; a test points its webhooks where it wants them."""
    clock = ShiftedClock()
    app = EeidSandbox(client_id=EEID_CLIENT[0], client_secret=EEID_CLIENT[1], webhook_delay=0.05, clock=clock)
    app.test_clock = clock  # type: ignore[attr-defined]
    return app


def mobbid_app() -> MobbidSandbox:
    """The MobbID sandbox; each gateway step takes 0.2 s."""
    clock = ShiftedClock()
    app = MobbidSandbox(*MOBBID_CREDENTIALS, step_seconds=0.2, clock=clock)
    app.test_clock = clock  # type: ignore[attr-defined]
    return app


def mosip_app() -> MosipSandbox:
    """The MOSIP auth and OTP manager sandbox; OTPs go to `app.otp_lines`."""
    lines: list[str] = []
    clock = ShiftedClock()
    app = MosipSandbox(*MOSIP_CREDENTIALS, clock=clock, on_otp=lines.append)
    app.test_clock = clock  # type: ignore[attr-defined]
    app.otp_lines = lines  # type: ignore[attr-defined]
    return app


# Each provider's sandbox as the tests configure it: a fresh one per test.
SANDBOX_APPS = {
    "dokobit": dokobit_app,
    "marksign": marksign_app,
    "eeid": eeid_app,
    "mobbid": mobbid_app,
    "mosip": mosip_app,
}


@pytest.fixture
def dokobit() -> Iterator[Served]:
    """The Dokobit sandbox on a loopback port."""
    yield from serve(dokobit_app())


@pytest.fixture
def marksign() -> Iterator[Served]:
    """The MarkSign sandbox on a loopback port."""
    yield from serve(marksign_app())


START = 1_700_000_000.0


class FakeClock:
    """A clock that stands still until a test moves it (sandbox unit tests never sleep)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def eeid() -> Iterator[Served]:
    """The eeID sandbox on a loopback port."""
    yield from serve(eeid_app())


@pytest.fixture
def mobbid() -> Iterator[Served]:
    """The MobbID sandbox on a loopback port."""
    yield from serve(mobbid_app())


@pytest.fixture
def mosip() -> Iterator[Served]:
    """The MOSIP sandbox on a loopback port."""
    yield from serve(mosip_app())
