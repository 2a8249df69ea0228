"""Behaviour of the local MOSIP auth manager and OTP manager sandbox."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from local.sandboxes.mosip import USERS, MosipSandbox
from tests.conftest import START, FakeClock

CLIENT_ID = "test-client"
SECRET = "test-secret-value"
TTL = 600
OTP_TTL = 120
AUTH = "/mosip/v1/authmanager"
OTP = "/mosip/v1/otpmanager/otp"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def sandbox(clock: FakeClock, lines: list[str]) -> MosipSandbox:
    return MosipSandbox(
        client_id=CLIENT_ID,
        secret_key=SECRET,
        otp_ttl=OTP_TTL,
        token_ttl=TTL,
        clock=clock,
        on_otp=lines.append,
    )


@pytest.fixture
def client(sandbox: MosipSandbox) -> Client:
    return Client(
        DispatcherMiddleware(Response("outside", status=404), {"/mosip": sandbox}), use_cookies=False
    )


def envelope(request: Any, request_id: str = "mosip.test") -> dict[str, Any]:
    return {
        "id": request_id,
        "version": "1.0",
        "requesttime": "2024-01-01T00:00:00.000Z",
        "metadata": {},
        "request": request,
    }


def post(client: Client, path: str, request: Any, cookie: str | None = None) -> TestResponse:
    headers = {"Cookie": cookie} if cookie else {}
    return client.post(path, json=envelope(request), headers=headers)


def body_of(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "version", "responsetime", "metadata", "response", "errors"}
    assert body["version"] == "1.0"
    assert body["metadata"] is None
    assert TIME_RE.match(body["responsetime"])
    return body


def errors(response: TestResponse) -> list[dict[str, str]]:
    body = body_of(response)
    assert body["response"] is None
    return body["errors"]


def ok(response: TestResponse) -> dict[str, Any]:
    body = body_of(response)
    assert body["errors"] is None
    return body["response"]


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def cookie_token(response: TestResponse) -> str:
    cookie = response.headers["Set-Cookie"]
    match = re.fullmatch(r"Authorization=([\w.-]+); Max-Age=(\d+); Path=/; HttpOnly", cookie)
    assert match, cookie
    assert int(match.group(2)) == TTL * 1000
    assert response.headers["Authorization"] == match.group(1)
    return match.group(1)


def service_token(client: Client) -> str:
    response = post(client, f"{AUTH}/authenticate/clientidsecretkey", service_request())
    return cookie_token(response)


def service_request(**overrides: str) -> dict[str, str]:
    return {"clientId": CLIENT_ID, "secretKey": SECRET, "appId": "ida", **overrides}


def send_otp(client: Client, user_id: str = "alice", **overrides: Any) -> TestResponse:
    request = {"userId": user_id, "otpChannel": ["email"], "appId": "resident", "useridtype": "USERID"}
    return post(client, f"{AUTH}/authenticate/sendotp", {**request, **overrides})


def login_otp(client: Client, otp: str, user_id: str = "alice") -> TestResponse:
    return post(
        client, f"{AUTH}/authenticate/useridOTP", {"userId": user_id, "otp": otp, "appId": "resident"}
    )


def wrong(otp: str) -> str:
    return f"{(int(otp) + 1) % 10**6:06d}"


def test_clientidsecretkey_sets_cookie_and_jwt(client: Client) -> None:
    response = post(client, f"{AUTH}/authenticate/clientidsecretkey", service_request())
    assert ok(response) == {
        "status": "success",
        "message": "Clientid and Token combination had been validated successfully",
    }
    payload = claims(cookie_token(response))
    assert payload["sub"] == CLIENT_ID
    assert payload["aud"] == "ida"
    assert payload["iat"] == int(START)
    assert payload["exp"] == int(START) + TTL


def test_clientidsecretkey_rejects_wrong_secret(client: Client) -> None:
    response = post(client, f"{AUTH}/authenticate/clientidsecretkey", service_request(secretKey="nope"))
    assert errors(response) == [{"errorCode": "KER-ATH-401", "message": "Authentication failed"}]
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("request_value", [None, [], "text"])
def test_envelope_request_must_be_object(client: Client, request_value: Any) -> None:
    response = post(client, f"{AUTH}/authenticate/clientidsecretkey", request_value)
    assert errors(response)[0]["errorCode"] == "KER-ATH-004"
    assert response.get_json()["id"] == "mosip.test"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"userId": "nobody"}, "KER-ATH-003"),
        ({"otpChannel": ["sms"]}, "KER-ATH-004"),
        ({"otpChannel": []}, "KER-ATH-004"),
        ({"appId": "elsewhere"}, "KER-ATH-004"),
    ],
)
def test_sendotp_errors(client: Client, lines: list[str], overrides: dict[str, Any], code: str) -> None:
    assert errors(send_otp(client, **overrides))[0]["errorCode"] == code
    assert lines == []


def test_sendotp_rejects_a_channel_the_user_lacks(client: Client) -> None:
    response = send_otp(client, "2345678901", useridtype="UIN", otpChannel=["phone"])
    assert errors(response) == [{"errorCode": "KER-ATH-004", "message": "Invalid request: otpChannel"}]


def test_sendotp_generates_and_reports_otp(client: Client, sandbox: MosipSandbox, lines: list[str]) -> None:
    response = send_otp(client, otpChannel=["email", "phone"])
    assert ok(response) == {"status": "success", "message": "Otp generated successfully"}
    assert "Set-Cookie" not in response.headers
    otp = sandbox.last_otp("alice")
    assert otp is not None and re.fullmatch(r"\d{6}", otp)
    assert lines == [f"MOSIP sandbox OTP for user alice (email, phone): {otp}"]


def test_useridotp_wrong_then_right(client: Client, sandbox: MosipSandbox) -> None:
    send_otp(client)
    otp = sandbox.last_otp("alice")
    assert otp is not None
    wrong_answer = login_otp(client, wrong(otp))
    assert ok(wrong_answer) == {"status": "failure", "message": "Otp validation failed"}
    assert "Set-Cookie" not in wrong_answer.headers

    right = login_otp(client, otp)
    assert ok(right) == {"status": "success", "message": "Otp validation successful"}
    assert claims(cookie_token(right))["sub"] == "alice"
    # Used up: the same OTP no longer works.
    assert errors(login_otp(client, otp))[0]["errorCode"] == "KER-OTV-005"


def test_useridotp_expired(client: Client, sandbox: MosipSandbox, clock: FakeClock) -> None:
    send_otp(client)
    otp = sandbox.last_otp("alice")
    assert otp is not None
    clock.advance(OTP_TTL)
    assert errors(login_otp(client, otp)) == [{"errorCode": "KER-OTV-003", "message": "OTP expired"}]


def test_useridotp_blocks_after_three_failures(client: Client, sandbox: MosipSandbox) -> None:
    send_otp(client)
    otp = sandbox.last_otp("alice")
    assert otp is not None
    for _ in range(3):
        assert ok(login_otp(client, wrong(otp)))["status"] == "failure"
    blocked = [{"errorCode": "KER-OTV-004", "message": "User blocked"}]
    assert errors(login_otp(client, otp)) == blocked
    assert errors(send_otp(client)) == blocked


def test_useridotp_unknown_user_and_missing_fields(client: Client) -> None:
    assert errors(login_otp(client, "123456", user_id="nobody"))[0]["errorCode"] == "KER-ATH-003"
    response = post(client, f"{AUTH}/authenticate/useridOTP", {"userId": "alice", "appId": "resident"})
    assert errors(response) == [{"errorCode": "KER-ATH-004", "message": "Invalid request: otp"}]


def test_dev_otp(clock: FakeClock, lines: list[str]) -> None:
    sandbox = MosipSandbox(dev_otp=True, clock=clock, on_otp=lines.append)
    client = Client(sandbox, use_cookies=False)
    path = "/v1/authmanager/authenticate/sendotp"
    request = {"userId": "carol", "otpChannel": ["phone"], "appId": "resident", "useridtype": "USERID"}
    assert ok(client.post(path, json=envelope(request)))["status"] == "success"
    assert sandbox.last_otp("carol") == "111111"
    assert lines == ["MOSIP sandbox OTP for user carol (phone): 111111"]


def test_useridpwd(client: Client) -> None:
    request = {
        "userName": "alice",
        "password": "alice-password",
        "appId": "admin",
        "clientId": CLIENT_ID,
        "clientSecret": SECRET,
    }
    response = post(client, f"{AUTH}/authenticate/internal/useridPwd", request)
    body = ok(response)
    assert "Set-Cookie" not in response.headers
    assert body["message"] == "success" and body["status"] == "success"
    assert body["userId"] == "alice"
    assert body["expiryTime"] == TTL and body["refreshExpiryTime"] == 86400
    assert claims(body["token"])["exp"] == int(START) + TTL
    assert claims(body["refreshToken"])["exp"] == int(START) + 86400

    invalid = [{"errorCode": "KER-ATH-023", "message": "Invalid Credentials"}]
    path = f"{AUTH}/authenticate/internal/useridPwd"
    assert errors(post(client, path, {**request, "password": "wrong"})) == invalid
    assert errors(post(client, path, {**request, "userName": "nobody"})) == invalid
    assert errors(post(client, path, {**request, "userName": "carol"})) == invalid
    assert errors(post(client, path, {**request, "clientSecret": "x"}))[0]["errorCode"] == "KER-ATH-401"


@pytest.mark.parametrize("cookie_name", ["Authorization", "X-Authorization-Foo"])
def test_validate_token_with_cookie_containing_authorization(
    client: Client, sandbox: MosipSandbox, cookie_name: str
) -> None:
    send_otp(client)
    otp = sandbox.last_otp("alice")
    assert otp is not None
    token = cookie_token(login_otp(client, otp))
    response = client.get(
        f"{AUTH}/authorize/admin/validateToken", headers={"Cookie": f"{cookie_name}={token}"}
    )
    assert ok(response) == {
        "userId": "alice",
        "mobile": USERS[0]["mobile"],
        "mail": USERS[0]["mail"],
        "langCode": "eng",
        "userPassword": None,
        "name": "Alice Test",
        "role": "RESIDENT",
        "rId": None,
        "token": token,
    }
    assert cookie_token(response) == token


def test_validate_token_failures(client: Client, clock: FakeClock) -> None:
    path = f"{AUTH}/authorize/admin/validateToken"
    assert errors(client.get(path))[0]["errorCode"] == "KER-ATH-006"
    assert errors(client.get(path, headers={"Cookie": "Authorization=a.b.c"})) == [
        {"errorCode": "KER-ATH-401", "message": "Invalid token"}
    ]
    token = service_token(client)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert errors(client.get(path, headers={"Cookie": f"Authorization={tampered}"}))[0]["errorCode"] == (
        "KER-ATH-401"
    )
    clock.advance(TTL)
    assert errors(client.get(path, headers={"Cookie": f"Authorization={token}"})) == [
        {"errorCode": "KER-ATH-402", "message": "Token expired"}
    ]


def test_invalidate_then_validate_fails(client: Client, sandbox: MosipSandbox) -> None:
    token = service_token(client)
    cookie = {"Cookie": f"Authorization={token}"}
    assert ok(client.get(f"{AUTH}/authorize/admin/validateToken", headers=cookie))["userId"] == CLIENT_ID
    response = client.post(f"{AUTH}/authorize/invalidateToken", headers=cookie)
    assert ok(response) == {"status": "success", "message": "Token has been invalidated successfully"}
    response = client.get(f"{AUTH}/authorize/admin/validateToken", headers=cookie)
    assert errors(response)[0]["errorCode"] == "KER-ATH-401"
    assert sandbox.stats()["tokens_invalidated"] == 1


def test_otp_manager_generate_and_validate(client: Client, clock: FakeClock) -> None:
    cookie = f"Authorization={service_token(client)}"
    generated = ok(post(client, f"{OTP}/generate", {"key": "9820173642"}, cookie))
    assert generated["status"] == "GENERATION_SUCCESSFUL"
    otp = generated["otp"]
    assert re.fullmatch(r"\d{6}", otp)

    def validate(key: str, value: str) -> TestResponse:
        return client.get(
            f"{OTP}/validate", query_string={"key": key, "otp": value}, headers={"Cookie": cookie}
        )

    assert ok(validate("9820173642", wrong(otp))) == {
        "status": "failure",
        "message": "VALIDATION_UNSUCCESSFUL",
    }
    assert ok(validate("9820173642", otp)) == {"status": "success", "message": "VALIDATION_SUCCESSFUL"}
    assert errors(validate("unknown-key", otp))[0]["errorCode"] == "KER-OTV-005"

    otp = ok(post(client, f"{OTP}/generate", {"key": "9820173642"}, cookie))["otp"]
    clock.advance(OTP_TTL)
    assert ok(validate("9820173642", otp)) == {"status": "failure", "message": "OTP_EXPIRED"}

    assert errors(post(client, f"{OTP}/generate", {"key": "ab"}, cookie))[0]["errorCode"] == "KER-OTG-001"
    assert errors(post(client, f"{OTP}/generate", {"key": "k" * 65}, cookie))[0]["errorCode"] == "KER-OTG-001"


def test_otp_manager_blocks_key_after_three_failures(client: Client) -> None:
    cookie = f"Authorization={service_token(client)}"
    otp = ok(post(client, f"{OTP}/generate", {"key": "key-1"}, cookie))["otp"]
    headers = {"Cookie": cookie}
    for _ in range(3):
        query = {"key": "key-1", "otp": wrong(otp)}
        assert ok(client.get(f"{OTP}/validate", query_string=query, headers=headers))["status"] == "failure"
    query = {"key": "key-1", "otp": otp}
    response = client.get(f"{OTP}/validate", query_string=query, headers=headers)
    assert ok(response) == {"status": "failure", "message": "USER_BLOCKED"}
    assert ok(post(client, f"{OTP}/generate", {"key": "key-1"}, cookie)) == {
        "otp": None,
        "status": "USER_BLOCKED",
    }


def test_otp_manager_needs_service_token(client: Client, sandbox: MosipSandbox) -> None:
    failed = [{"errorCode": "KER-ATH-401", "message": "Authentication failed"}]
    assert errors(post(client, f"{OTP}/generate", {"key": "key-1"})) == failed
    send_otp(client)
    otp = sandbox.last_otp("alice")
    assert otp is not None
    user_cookie = f"Authorization={cookie_token(login_otp(client, otp))}"
    assert errors(post(client, f"{OTP}/generate", {"key": "key-1"}, user_cookie)) == failed
    query = {"key": "key-1", "otp": "123456"}
    assert errors(client.get(f"{OTP}/validate", query_string=query)) == failed


def test_stats_without_secrets_and_reset(client: Client, sandbox: MosipSandbox) -> None:
    token = service_token(client)
    send_otp(client)
    otp = sandbox.last_otp("alice")
    assert otp is not None
    login_otp(client, otp)
    stats = client.get("/mosip/_sandbox/stats").get_json()
    assert stats == sandbox.stats()
    assert stats["calls"] == {
        "clientidsecretkey": 1,
        "sendotp": 1,
        "useridOTP": 1,
        "useridPwd": 0,
        "validateToken": 0,
        "invalidateToken": 0,
        "otp_generate": 0,
        "otp_validate": 0,
    }
    assert stats["tokens_issued"] == 2 and stats["tokens_invalidated"] == 0
    text = json.dumps(stats)
    for secret in (token, otp, SECRET, "alice", "alice-password"):
        assert secret not in text

    assert client.post("/mosip/_sandbox/reset").get_json() == {"status": "ok"}
    assert sandbox.last_otp("alice") is None
    assert sandbox.stats()["tokens_issued"] == 0
    # The signing key survives a reset, so tokens issued before stay valid.
    cookie = {"Cookie": f"Authorization={token}"}
    assert ok(client.get(f"{AUTH}/authorize/admin/validateToken", headers=cookie))["userId"] == CLIENT_ID
