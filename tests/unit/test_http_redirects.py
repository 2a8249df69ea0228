"""Provider calls never follow redirects, and provider-returned ids stay one escaped path segment."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request

from eid_broker.errors import ProviderBadResponse
from eid_broker.http import make_session, path_segment, send
from eid_broker.providers.dokobit import DokobitClient
from eid_broker.providers.eeid import EeidClient
from eid_broker.providers.marksign import MarkSignClient
from eid_broker.providers.mobbid import MobbidClient
from eid_broker.tokens import Token
from tests.transport import mount

EVIL = "../../admin?x=1#"
Answer = tuple[int, dict[str, str], bytes]
ESCAPED = "..%2F..%2Fadmin%3Fx%3D1%23"


class Recorder:
    """A provider double at `url` (reached in process, see tests/transport.py) that records every request's
    method, raw path and headers and answers with `answer`."""

    def __init__(
        self, answer: Callable[[str], tuple[int, dict[str, str], bytes]], host: str = "provider"
    ) -> None:
        self.hits: list[tuple[str, str, Headers]] = []
        self.status = 0
        self.url = f"http://{host}.test"
        self.answer = answer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = Request(environ)
        request.get_data()
        self.hits.append((request.method, environ["RAW_URI"], Headers(request.headers)))
        status, headers, body = self.answer(environ["RAW_URI"])
        start_response(f"{status} X", list({"Content-Length": str(len(body)), **headers}.items()))
        return [body]


def session(*servers: Recorder, **options: float) -> requests.Session:
    """The broker's own session, each recorder mounted at its URL."""
    made = make_session(**options)
    for server in servers:
        mount(made, server, server.url)
    return made


def json_answer(body: dict[str, Any], status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def target() -> Recorder:
    return Recorder(lambda path: json_answer({"authToken": "x", "status": "ok"}), "target")


@pytest.fixture
def redirecting(target: Recorder, request: pytest.FixtureRequest) -> Recorder:
    status = getattr(request, "param", 302)
    server = Recorder(lambda path: (status, {"Location": f"{target.url}/elsewhere"}, b""), "redirecting")
    server.status = status
    return server


@pytest.mark.parametrize("redirecting", [301, 302, 303, 307, 308], indirect=True)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_redirect_is_a_bad_response_and_never_followed(
    redirecting: Recorder, target: Recorder, method: str
) -> None:
    with pytest.raises(ProviderBadResponse) as raised:
        send(
            session(redirecting, target, backoff=0.01),
            method,
            f"{redirecting.url}/api/v6/authorization",
            provider="mobbid",
            headers={"apiKey": "key-SECRET"},
            allow_redirects=True,
        )
    assert str(raised.value) == f"mobbid answered HTTP {redirecting.status}."
    assert len(redirecting.hits) == 1 and target.hits == []


def test_mobbid_api_key_never_reaches_the_redirect_target(redirecting: Recorder, target: Recorder) -> None:
    made = session(redirecting, target, backoff=0.01)
    client = MobbidClient(redirecting.url, "app-id", "key-SECRET", made, FakeTokens())
    with pytest.raises(ProviderBadResponse) as raised:
        client.process("process-1")
    assert str(raised.value) == "mobbid answered HTTP 302."
    assert redirecting.hits[0][2]["apiKey"] == "key-SECRET"
    assert target.hits == []


class FakeTokens:
    def get(self, key: str, fetch: Callable[[], Token]) -> str:
        return fetch().value

    def invalidate(self, key: str, value: str) -> None:
        pass


def test_a_dokobit_status_token_is_one_escaped_path_segment() -> None:
    server = Recorder(lambda path: json_answer({"status": "waiting"}))
    assert DokobitClient(server.url, "acc", session(server)).login_status(EVIL) is None
    assert [path for _, path, _ in server.hits] == [
        f"/v2/mobile/login/status/{ESCAPED}.json?access_token=acc"
    ]


def test_marksign_tokens_are_one_escaped_path_segment() -> None:
    server = Recorder(lambda path: json_answer({"status": "waiting"}))
    client = MarkSignClient(server.url, "acc", session(server))
    assert client.login_status(EVIL) is None
    client.abandon(EVIL)
    assert [(method, path) for method, path, _ in server.hits] == [
        ("POST", f"/mobile/status/{ESCAPED}.json"),
        ("DELETE", f"/api/mobile/session/{ESCAPED}"),
    ]


def test_eeid_request_ids_are_one_escaped_path_segment() -> None:
    def answer(path: str) -> tuple[int, dict[str, str], bytes]:
        if path.endswith("/proof_of_identity"):
            return 200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"
        return json_answer({"access_token": "t", "id": EVIL, "status": "pending"})

    server = Recorder(answer)
    client = EeidClient(server.url, "client", "secret", session(server), FakeTokens())
    assert client.get_request(EVIL).status == "pending"
    assert client.proof_of_identity(EVIL) == b"%PDF-1.4"
    paths = [path for method, path, _ in server.hits if method == "GET"]
    assert paths == [
        f"/api/ident/v1/identification_requests/{ESCAPED}",
        f"/api/ident/v1/identification_requests/{ESCAPED}/proof_of_identity",
    ]


def test_mobbid_process_and_operation_ids_are_one_escaped_path_segment() -> None:
    def answer(path: str) -> tuple[int, dict[str, str], bytes]:
        if "/operation/" in path:
            return json_answer({"id": "o", "status": "PENDING"})
        return json_answer({"authToken": "t", "id": "p", "status": "CREATED"})

    server = Recorder(answer)
    client = MobbidClient(server.url, "app", "key", session(server), FakeTokens())
    client.process(EVIL)
    client.operation(EVIL)
    paths = [path for _, path, _ in server.hits if not path.endswith("/authorization")]
    assert paths == [
        f"/api/v6/application/app/gateway/process/{ESCAPED}",
        f"/api/v6/application/app/operation/{ESCAPED}",
    ]


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_an_empty_or_dot_id_is_refused(value: str) -> None:
    with pytest.raises(ProviderBadResponse):
        path_segment(value, provider="eeid")


def test_a_percent_in_an_id_is_escaped_too() -> None:
    assert path_segment("a%2Fb/c", provider="eeid") == "a%252Fb%2Fc"
