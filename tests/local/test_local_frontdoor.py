"""The local API Gateway: routes and gateway responses from template.yaml, REST v1 proxy events, no moto."""

from __future__ import annotations

import base64
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from local.emulator.cfn import Resolver, Template
from local.emulator.frontdoor import FrontDoor, Route, api_routes
from tests import wiring

REPO = Path(__file__).resolve().parents[2]
KEY = "local-dev-key"
GET_FUNCTION = "eid-broker-local-session-get"
START_FUNCTION = "eid-broker-local-dokobit-start"


class FakeInvoke:
    """Stands in for moto's Lambda Invoke: records calls, answers a canned proxy result."""

    def __init__(self, result: Any = None, function_error: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.result = {"statusCode": 200, "body": "{}"} if result is None else result
        self.function_error = function_error

    def __call__(self, function_name: str, payload: bytes) -> tuple[bytes, str | None]:
        self.calls.append((function_name, json.loads(payload)))
        if isinstance(self.result, Exception):
            raise self.result
        body = self.result if isinstance(self.result, bytes) else json.dumps(self.result).encode()
        return body, self.function_error

    @property
    def event(self) -> dict[str, Any]:
        return self.calls[-1][1]


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    template = Template.load(REPO / "template.yaml")
    parameters = template.parameter_values({}, {"Stage": "local"})
    resolver = Resolver(
        template, parameters, region="eu-north-1", account_id="123456789012", stack_name="eid-broker-local"
    )
    return api_routes(resolver)


def client_for(routes: list[Route], invoke: FakeInvoke, **kwargs: Any) -> Client:
    return Client(FrontDoor(routes, invoke=invoke, api_key=KEY, **kwargs))


def test_routes_come_from_the_template(routes: list[Route]) -> None:
    expected = {
        (event["Method"].upper(), event["Path"], function["Properties"]["FunctionName"]["Fn::Sub"])
        for _, function in wiring.FUNCTIONS
        for event in wiring.api_events(function)
    }
    assert {(r.method, r.path, r.function_name) for r in routes} == {
        (method, path, name.replace("${Stage}", "local")) for method, path, name in expected
    }
    assert ("POST", "/v1/sessions/dokobit-mobile-id", START_FUNCTION) in {
        (r.method, r.path, r.function_name) for r in routes
    }
    assert all(r.api.stage == "local" for r in routes)
    # eeID's signed webhook and the OpenID Provider's public routes; everything else needs a key
    assert {r.path for r in routes if not r.api_key_required} == {
        "/eeid/webhooks/identification_requests",
        "/.well-known/openid-configuration",
        "/oidc/jwks",
        "/oidc/authorize",
        "/oidc/login",
        "/oidc/login/status",
        "/oidc/static/{name}",
        "/oidc/token",
        "/oidc/userinfo",
    }
    assert routes[0].api.binary_media_types == ("application/pdf",)


def test_a_get_becomes_a_rest_v1_proxy_event(routes: list[Route]) -> None:
    # Given a GET with a path parameter, a repeated query parameter and the API key
    invoke = FakeInvoke()
    response = client_for(routes, invoke).get(
        "/v1/sessions/abc-123?x=1&x=2&empty=", headers={"x-api-key": KEY, "User-Agent": "test/1"}
    )
    # Then the session-get function got an API Gateway REST (v1) proxy event
    assert response.status_code == 200
    function_name, event = invoke.calls[0]
    assert function_name == GET_FUNCTION
    assert event["resource"] == "/v1/sessions/{session_id}"
    assert event["path"] == "/v1/sessions/abc-123"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"session_id": "abc-123"}
    assert event["queryStringParameters"] == {"x": "2", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "empty": [""]}
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    headers = {k.lower(): v for k, v in event["headers"].items()}
    assert headers["x-api-key"] == KEY
    assert headers["user-agent"] == "test/1"
    assert "x-forwarded-for" in headers
    assert {k.lower(): v for k, v in event["multiValueHeaders"].items()}["x-api-key"] == [KEY]
    context = event["requestContext"]
    assert context["resourcePath"] == "/v1/sessions/{session_id}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/local/v1/sessions/abc-123"
    assert context["stage"] == "local"
    assert uuid.UUID(context["requestId"])
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["identity"]["sourceIp"]
    assert context["identity"]["userAgent"] == "test/1"
    assert context["identity"]["apiKey"] == KEY
    assert context["identity"]["apiKeyId"]
    assert context["accountId"] == "123456789012"
    assert len(context["apiId"]) == 10
    assert context["protocol"].startswith("HTTP/")
    assert response.headers["x-amzn-RequestId"] == context["requestId"]


def test_no_query_string_gives_null_parameters(routes: list[Route]) -> None:
    invoke = FakeInvoke()
    client_for(routes, invoke).get("/v1/sessions/abc", headers={"x-api-key": KEY})
    assert invoke.event["queryStringParameters"] is None
    assert invoke.event["multiValueQueryStringParameters"] is None


def test_a_utf8_body_is_passed_as_text(routes: list[Route]) -> None:
    invoke = FakeInvoke({"statusCode": 201, "body": "{}"})
    body = '{"phone": "+37200000766", "name": "Mäe"}'
    response = client_for(routes, invoke).post(
        "/v1/sessions/dokobit-mobile-id",
        data=body.encode(),
        headers={"x-api-key": KEY, "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert invoke.calls[0][0] == START_FUNCTION
    assert invoke.event["body"] == body
    assert invoke.event["isBase64Encoded"] is False
    assert invoke.event["pathParameters"] is None


def test_a_non_utf8_body_becomes_base64(routes: list[Route]) -> None:
    invoke = FakeInvoke()
    raw = b"\xff\xfe\x00binary"
    client_for(routes, invoke).post(
        "/v1/sessions/dokobit-mobile-id",
        data=raw,
        headers={"x-api-key": KEY, "Content-Type": "application/json"},
    )
    assert invoke.event["isBase64Encoded"] is True
    assert base64.b64decode(invoke.event["body"]) == raw


def test_a_binary_media_type_body_becomes_base64(routes: list[Route]) -> None:
    invoke = FakeInvoke()
    client_for(routes, invoke).post(
        "/v1/sessions/dokobit-mobile-id",
        data=b"%PDF-1.7",
        headers={"x-api-key": KEY, "Content-Type": "application/pdf"},
    )
    assert invoke.event["isBase64Encoded"] is True
    assert base64.b64decode(invoke.event["body"]) == b"%PDF-1.7"


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.data)
    assert body["request_id"] == response.headers["x-amzn-RequestId"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}], ids=["missing", "wrong"])
def test_a_missing_or_wrong_key_is_refused_with_the_gateway_response(
    routes: list[Route], headers: dict[str, str]
) -> None:
    invoke = FakeInvoke()
    response = client_for(routes, invoke).get("/v1/sessions/abc", headers=headers)
    assert response.status_code == 403
    assert problem(response)["detail"] == "Missing or invalid API key."
    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert invoke.calls == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/v1/sessions"),
        ("PUT", "/v1/sessions/abc"),
        # API Gateway picks the literal resource first, and it has no GET
        ("GET", "/v1/sessions/dokobit-mobile-id"),
    ],
)
def test_an_unknown_route_is_the_templates_404(routes: list[Route], method: str, path: str) -> None:
    invoke = FakeInvoke()
    response = client_for(routes, invoke).open(path, method=method, headers={"x-api-key": KEY})
    assert response.status_code == 404
    body = problem(response)
    assert body["code"] == "ROUTE_NOT_FOUND"
    assert body["detail"] == "No such route."
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert invoke.calls == []


def test_a_body_over_the_limit_is_413(routes: list[Route]) -> None:
    invoke = FakeInvoke()
    response = client_for(routes, invoke, max_body_bytes=16).post(
        "/v1/sessions/dokobit-mobile-id", data=b"x" * 17, headers={"x-api-key": KEY}
    )
    assert response.status_code == 413
    assert problem(response)["code"] == "BODY_TOO_LARGE"
    assert invoke.calls == []


def test_a_chunked_body_over_the_limit_is_413(routes: list[Route]) -> None:
    invoke = FakeInvoke()
    response = client_for(routes, invoke, max_body_bytes=16).post(
        "/v1/sessions/dokobit-mobile-id",
        input_stream=io.BytesIO(b"x" * 17),
        headers={"x-api-key": KEY, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as werkzeug's server sets for chunked input
    )
    assert response.status_code == 413
    assert invoke.calls == []


@pytest.mark.parametrize(
    "invoke",
    [
        FakeInvoke({"errorMessage": "boom", "errorType": "ValueError"}, function_error="Unhandled"),
        FakeInvoke({"errorMessage": "Task timed out after 15 seconds"}, function_error="Unhandled"),
        FakeInvoke({"body": "no status"}),
        FakeInvoke({"statusCode": 200, "body": {"not": "a string"}}),
        FakeInvoke(b"not json"),
        FakeInvoke(ConnectionError("moto went away")),
    ],
    ids=["function-error", "timeout", "no-status", "body-not-string", "not-json", "invoke-raised"],
)
def test_integration_failures_are_502_from_default_5xx(routes: list[Route], invoke: FakeInvoke) -> None:
    response = client_for(routes, invoke).get("/v1/sessions/abc", headers={"x-api-key": KEY})
    assert response.status_code == 502
    body = problem(response)
    assert body["code"] == "INTERNAL_ERROR"
    assert "boom" not in response.get_data(as_text=True)


def test_the_proxy_result_maps_to_the_http_response(routes: list[Route]) -> None:
    invoke = FakeInvoke(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/pdf", "X-One": 1},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"%PDF\xff").decode(),
            "isBase64Encoded": True,
        }
    )
    response = client_for(routes, invoke).get("/v1/sessions/abc", headers={"x-api-key": KEY})
    assert response.status_code == 201
    assert response.data == b"%PDF\xff"
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-One"] == "1"
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_admin_routes_need_no_key(routes: list[Route]) -> None:
    client = client_for(routes, FakeInvoke(), admin={"GET /_local/stats": lambda: {"lambda": {}}})
    response = client.get("/_local/stats")
    assert response.status_code == 200
    assert response.json == {"lambda": {}}
    assert client.post("/_local/stats").status_code == 405


def test_the_access_log_leaves_out_the_oidc_routes_query(routes: list[Route]) -> None:
    logged: list[str] = []
    client = client_for(routes, FakeInvoke(), log=logged.append)
    client.get("/oidc/authorize?client_id=c&login_hint=37200000766")  # a login_hint is a phone or a code
    client.get("/v1/sessions/abc?wait=5", headers={"x-api-key": KEY})
    assert logged[0].startswith("GET /oidc/authorize 200 (") and "37200000766" not in logged[0]
    assert logged[1].startswith("GET /v1/sessions/abc?wait=5 200 (")
