"""Behaviour of the local MobbID API v6 gateway sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from local.sandboxes import mobbid
from local.sandboxes.mobbid import PERSONAS, AlreadyChosenError, MobbidSandbox
from tests.conftest import START, FakeClock

APP_ID = "test-app"
API_KEY = "test-api-key-value"
TTL = 600
STEP = 2.0
API = f"/mobbid/api/v6/application/{APP_ID}"
RETURN_URL = "https://broker.test/mobbid/return?state=abc"
UNAUTHORIZED = {"message": "Unauthorized"}


@pytest.fixture
def sandbox(clock: FakeClock) -> MobbidSandbox:
    return MobbidSandbox(
        application_id=APP_ID, api_key=API_KEY, token_ttl=TTL, step_seconds=STEP, clock=clock
    )


@pytest.fixture
def client(sandbox: MobbidSandbox) -> Client:
    # Mounted like the local stack does, so URLs must carry the /mobbid prefix.
    return Client(DispatcherMiddleware(Response("outside", status=404), {"/mobbid": sandbox}))


def body(response: TestResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    result = json.loads(response.get_data(as_text=True))
    assert isinstance(result, dict)
    return result


def b64url_json(part: str) -> dict[str, Any]:
    decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def authorize(client: Client, app_id: str = APP_ID, api_key: str = API_KEY) -> TestResponse:
    return client.get("/mobbid/api/v6/authorization", headers={"applicationId": app_id, "apiKey": api_key})


def bearer(client: Client) -> dict[str, str]:
    response = authorize(client)
    assert response.status_code == 200
    return {"Authorization": f"Bearer {body(response)['authToken']}"}


def create(client: Client, headers: dict[str, str], **overrides: Any) -> TestResponse:
    payload = {
        "biometricMethod": "FACE",
        "operation": "VERIFICATION",
        "returnUrl": RETURN_URL,
        "userId": "user-42",
        **overrides,
    }
    return client.post(f"{API}/gateway/process", json=payload, headers=headers)


def new_process(client: Client, headers: dict[str, str], user_id: str) -> str:
    response = create(client, headers, userId=user_id)
    assert response.status_code == 201
    process_id = body(response)["processId"]
    assert isinstance(process_id, str)
    return process_id


def process(client: Client, headers: dict[str, str], process_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/gateway/process/{process_id}", headers=headers)
    assert response.status_code == 200
    return body(response)


def operation(client: Client, headers: dict[str, str], process_id: str) -> dict[str, Any]:
    operation_id = process(client, headers, process_id)["operationId"]
    response = client.get(f"{API}/operation/{operation_id}", headers=headers)
    assert response.status_code == 200
    return body(response)


def finished_operation(
    client: Client, clock: FakeClock, headers: dict[str, str], user_id: str
) -> dict[str, Any]:
    process_id = new_process(client, headers, user_id)
    clock.advance(3 * STEP)
    assert process(client, headers, process_id)["status"] == "COMPLETED"
    return operation(client, headers, process_id)


def scores(op: dict[str, Any]) -> dict[str, float]:
    return {s["scoreType"]: s["score"] for s in op["data"]["scores"]}


# Authorization


def test_authorization_returns_hs256_jwt_with_ttl(client: Client) -> None:
    response = authorize(client)
    assert response.status_code == 200
    token = body(response)["authToken"]
    header_part, payload_part, signature_part = token.split(".")
    assert b64url_json(header_part) == {"alg": "HS256", "typ": "JWT"}
    payload = b64url_json(payload_part)
    assert payload == {"sub": APP_ID, "iat": int(START), "exp": int(START) + TTL}
    assert "=" not in token
    assert len(base64.urlsafe_b64decode(signature_part + "=")) == 32


def test_jwt_is_signed_with_a_random_per_sandbox_key(clock: FakeClock) -> None:
    credentials = {"applicationId": APP_ID, "apiKey": API_KEY}
    first, second = (
        Client(MobbidSandbox(application_id=APP_ID, api_key=API_KEY, clock=clock)) for _ in range(2)
    )
    token = body(first.get("/api/v6/authorization", headers=credentials))["authToken"]
    other = body(second.get("/api/v6/authorization", headers=credentials))["authToken"]
    assert token.split(".")[:2] == other.split(".")[:2]
    assert token != other
    signing_input, signature = token.rsplit(".", 1)
    with_api_key = hmac.new(API_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(with_api_key).rstrip(b"=").decode() != signature
    path = f"/api/v6/application/{APP_ID}/gateway/process/{uuid.uuid4()}"
    assert first.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert first.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 401


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),
        ({"applicationId": APP_ID}, 400),
        ({"apiKey": API_KEY}, 400),
        ({"applicationId": "other-app", "apiKey": API_KEY}, 401),
        ({"applicationId": APP_ID, "apiKey": "wrong"}, 403),
    ],
)
def test_authorization_errors(client: Client, headers: dict[str, str], status: int) -> None:
    response = client.get("/mobbid/api/v6/authorization", headers=headers)
    assert response.status_code == status
    assert isinstance(body(response)["message"], str)


def test_api_needs_a_valid_unexpired_token(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    assert create(client, {}).status_code == 401
    assert body(create(client, {"Authorization": "Bearer not.a.jwt"})) == UNAUTHORIZED
    token = headers["Authorization"].removeprefix("Bearer ")
    head, payload, signature = token.split(".")
    claims = b64url_json(payload)
    claims["exp"] += 3600
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert create(client, {"Authorization": f"Bearer {head}.{tampered}.{signature}"}).status_code == 401
    assert create(client, {"Authorization": token}).status_code == 401
    assert create(client, headers).status_code == 201
    clock.advance(TTL - 1)
    assert create(client, headers).status_code == 201
    clock.advance(1)
    response = create(client, headers)
    assert response.status_code == 401
    assert body(response) == UNAUTHORIZED
    assert create(client, bearer(client)).status_code == 201


# Creating a process


def test_create_returns_process_id_and_absolute_gateway_url(client: Client) -> None:
    response = create(client, bearer(client))
    assert response.status_code == 201
    result = body(response)
    assert set(result) == {"processId", "gatewayUrl"}
    assert uuid.UUID(result["processId"]).version == 4
    assert result["gatewayUrl"] == f"http://localhost/mobbid/gateway/{result['processId']}"


def test_create_unknown_application_is_404(client: Client) -> None:
    response = client.post(
        "/mobbid/api/v6/application/other-app/gateway/process",
        json={"biometricMethod": "FACE", "operation": "VERIFICATION", "returnUrl": RETURN_URL, "userId": "u"},
        headers=bearer(client),
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"biometricMethod": "FINGERPRINT"}, "GATEWAY_BIOMETRIC_METHOD_NOT_AVAILABLE"),
        ({"operation": "ENROLLMENT"}, "GATEWAY_BIOMETRIC_OPERATION_NOT_AVAILABLE"),
        ({"operation": "IDENTIFICATION"}, "GATEWAY_BIOMETRIC_OPERATION_NOT_AVAILABLE"),
    ],
)
def test_create_unavailable_method_or_operation_is_422(
    client: Client, overrides: dict[str, str], code: str
) -> None:
    response = create(client, bearer(client), **overrides)
    assert response.status_code == 422
    assert body(response) == {"errorCode": code}


@pytest.mark.parametrize(
    "overrides",
    [
        {"returnUrl": None},
        {"returnUrl": "not a url"},
        {"userId": None},
        {"userId": ""},
        {"userId": 42},
        {"biometricMethod": None},
    ],
)
def test_create_missing_parameters_is_400(client: Client, overrides: dict[str, Any]) -> None:
    response = create(client, bearer(client), **overrides)
    assert response.status_code == 400
    assert isinstance(body(response)["message"], str)


def test_create_without_json_is_400(client: Client) -> None:
    headers = {**bearer(client), "Content-Type": "application/json"}
    response = client.post(f"{API}/gateway/process", data="{not json", headers=headers)
    assert response.status_code == 400
    response = client.post(f"{API}/gateway/process", json=["a", "list"], headers=headers)
    assert response.status_code == 400


def test_banned_user_is_429(client: Client) -> None:
    response = create(client, bearer(client), userId="user-banned")
    assert response.status_code == 429
    assert body(response) == {"message": "Too many requests"}


# Process status


def test_verified_persona_progresses_with_the_clock(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-verified")
    first = process(client, headers, process_id)
    assert first["id"] == process_id
    assert first["status"] == "STARTED"
    assert uuid.UUID(first["operationId"])
    seen = []
    for _ in range(4):
        view = process(client, headers, process_id)
        seen.append(view["status"])
        assert view["operationId"] == first["operationId"]
        clock.advance(STEP / 2)
        seen.append(process(client, headers, process_id)["status"])
        clock.advance(STEP / 2)
    assert seen == [
        "STARTED",
        "STARTED",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "PROCESSING",
        "PROCESSING",
        "COMPLETED",
        "COMPLETED",
    ]


def test_operation_status_follows_the_process(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-verified")
    expected = ["PENDING", "PENDING", "PROCESSING", "SUCCESS"]
    for status in expected:
        op = operation(client, headers, process_id)
        assert op["status"] == status
        clock.advance(STEP)


def test_pending_operation_has_no_result_yet(client: Client) -> None:
    headers = bearer(client)
    op = operation(client, headers, new_process(client, headers, "user-verified"))
    assert op["status"] == "PENDING"
    assert op["finishedAt"] is None
    assert op["data"]["result"] is False
    assert op["data"]["scores"] == []
    assert op["data"]["error"] is None
    assert op["resources"] == []


def test_unknown_process_and_operation_are_404(client: Client) -> None:
    headers = bearer(client)
    assert client.get(f"{API}/gateway/process/{uuid.uuid4()}", headers=headers).status_code == 404
    assert client.get(f"{API}/operation/{uuid.uuid4()}", headers=headers).status_code == 404
    process_id = new_process(client, headers, "user-verified")
    other_app = f"/mobbid/api/v6/application/other/gateway/process/{process_id}"
    assert client.get(other_app, headers=headers).status_code == 404


def test_never_persona_stays_created(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-never")
    for _ in range(5):
        assert process(client, headers, process_id) == {
            "id": process_id,
            "status": "CREATED",
            "operationId": None,
        }
        clock.advance(50 * STEP)


def test_other_users_wait_for_the_page(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "someone@example.test")
    clock.advance(100 * STEP)
    assert process(client, headers, process_id)["status"] == "CREATED"


def test_flaky_persona_fails_its_first_get_only(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-flaky")
    response = client.get(f"{API}/gateway/process/{process_id}", headers=headers)
    assert response.status_code == 503
    assert body(response) == {"message": "Service unavailable"}
    assert process(client, headers, process_id)["status"] == "STARTED"
    clock.advance(3 * STEP)
    assert process(client, headers, process_id)["status"] == "COMPLETED"
    assert operation(client, headers, process_id)["data"]["result"] is True
    other = new_process(client, headers, "user-verified")
    assert client.get(f"{API}/gateway/process/{other}", headers=headers).status_code == 200


def test_slow_persona_stays_processing(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-slow")
    clock.advance(2 * STEP)
    for _ in range(10):
        assert process(client, headers, process_id)["status"] == "PROCESSING"
        assert operation(client, headers, process_id)["status"] == "PROCESSING"
        clock.advance(STEP)
    assert process(client, headers, process_id)["status"] == "COMPLETED"
    op = operation(client, headers, process_id)
    assert op["status"] == "SUCCESS"
    assert op["data"]["result"] is True


# Operation outcomes


def test_verified_operation_shape(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-verified")
    clock.advance(3 * STEP)
    view = process(client, headers, process_id)
    op = operation(client, headers, process_id)
    assert set(op) == {
        "id",
        "transactionId",
        "biometricMethod",
        "type",
        "status",
        "createdAt",
        "finishedAt",
        "userAgent",
        "clientVersion",
        "data",
        "resources",
    }
    assert op["id"] == view["operationId"]
    assert uuid.UUID(op["transactionId"])
    assert (op["biometricMethod"], op["type"], op["status"]) == ("FACE", "VERIFICATION", "SUCCESS")
    assert op["createdAt"] == "2023-11-14T22:13:20.000Z"
    assert op["finishedAt"] == "2023-11-14T22:13:26.000Z"
    assert isinstance(op["userAgent"], str)
    assert isinstance(op["clientVersion"], str)
    data = op["data"]
    assert set(data) == {"result", "userId", "liveness", "scores", "error"}
    assert data["result"] is True
    assert data["userId"] == "user-verified"
    assert data["liveness"] == "FACE_PASSIVE_VIDEO"
    assert data["error"] is None
    assert set(scores(op)) == {"MATCHING", "LIVENESS", "IDENTITY_VERIFICATION"}
    assert all(score >= 0.9 for score in scores(op).values())
    resources = op["resources"]
    assert [(r["type"], r["format"]) for r in resources] == [("SELFIE", "jpg"), ("SAMPLE_SOURCE", "mp4")]
    for resource in resources:
        assert set(resource) == {"id", "type", "url", "format"}
        assert resource["url"].startswith(f"http://localhost{API}/operation/{op['id']}/")
        assert resource["url"].endswith(resource["id"])


def test_not_same_person_operation(client: Client, clock: FakeClock) -> None:
    op = finished_operation(client, clock, bearer(client), "user-not-same")
    assert op["status"] == "SUCCESS"
    assert op["data"]["result"] is False
    assert op["data"]["error"] is None
    values = scores(op)
    assert values["MATCHING"] < 0.2
    assert values["LIVENESS"] >= 0.9
    assert values["IDENTITY_VERIFICATION"] >= 0.9


def test_error_operation(client: Client, clock: FakeClock) -> None:
    op = finished_operation(client, clock, bearer(client), "user-error")
    assert op["status"] == "ERROR"
    assert op["data"]["result"] is False
    assert op["data"]["error"] == "Face not detected in the sample"
    assert op["data"]["scores"] == []
    assert op["finishedAt"] is not None
    assert [r["type"] for r in op["resources"]] == ["SAMPLE_SOURCE"]


# The end user's page


def test_page_offers_three_choices(client: Client) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-42")
    response = client.get(f"/mobbid/gateway/{process_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "MobbID sandbox — face verification" in page
    assert f'action="/mobbid/gateway/{process_id}/choose"' in page
    for choice in ("verified", "not_same_person", "error"):
        assert f'name="choice" value="{choice}"' in page
    assert "user-42" not in page


@pytest.mark.parametrize(
    ("choice", "result", "error"),
    [("verified", True, None), ("not_same_person", False, None), ("error", False, "BiometricError")],
)
def test_page_choice_redirects_to_return_url(
    client: Client, clock: FakeClock, choice: str, result: bool, error: str | None
) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-42")
    clock.advance(10)
    response = client.post(f"/mobbid/gateway/{process_id}/choose", data={"choice": choice})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "broker.test", "/mobbid/return")
    expected = {"state": ["abc"], "processId": [process_id]}
    if error is not None:
        expected["error"] = [error]
    assert parse_qs(location.query) == expected
    assert process(client, headers, process_id)["status"] == "STARTED"
    clock.advance(3 * STEP)
    assert process(client, headers, process_id)["status"] == "COMPLETED"
    op = operation(client, headers, process_id)
    assert op["status"] == ("ERROR" if choice == "error" else "SUCCESS")
    assert op["data"]["result"] is result
    assert op["data"]["userId"] == "user-42"


def test_return_url_without_query(client: Client) -> None:
    headers = bearer(client)
    response = create(client, headers, returnUrl="http://127.0.0.1:3000/done", userId="user-42")
    process_id = body(response)["processId"]
    response = client.post(f"/mobbid/gateway/{process_id}/choose", data={"choice": "verified"})
    assert response.headers["Location"] == f"http://127.0.0.1:3000/done?processId={process_id}"


def test_page_errors(client: Client) -> None:
    headers = bearer(client)
    assert client.get(f"/mobbid/gateway/{uuid.uuid4()}").status_code == 404
    unknown = client.post(f"/mobbid/gateway/{uuid.uuid4()}/choose", data={"choice": "verified"})
    assert unknown.status_code == 404
    assert unknown.mimetype == "text/html"
    process_id = new_process(client, headers, "user-42")
    assert client.post(f"/mobbid/gateway/{process_id}/choose", data={"choice": "maybe"}).status_code == 400
    assert process(client, headers, process_id)["status"] == "CREATED"
    assert client.post(f"/mobbid/gateway/{process_id}/choose", data={"choice": "verified"}).status_code == 302
    again = client.post(f"/mobbid/gateway/{process_id}/choose", data={"choice": "error"})
    assert again.status_code == 409
    assert again.mimetype == "text/html"
    assert "already" in client.get(f"/mobbid/gateway/{process_id}").get_data(as_text=True)
    scripted = new_process(client, headers, "user-verified")
    assert client.post(f"/mobbid/gateway/{scripted}/choose", data={"choice": "error"}).status_code == 409


def test_never_persona_can_still_choose_on_the_page(client: Client) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-never")
    assert client.post(f"/mobbid/gateway/{process_id}/choose", data={"choice": "verified"}).status_code == 302
    assert process(client, headers, process_id)["status"] == "STARTED"


# Admin and stats


def test_admin_choose(client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-42")
    response = client.post(f"/mobbid/_sandbox/choose/{process_id}", json={"choice": "not_same_person"})
    assert response.status_code == 200
    assert body(response) == {"status": "STARTED"}
    clock.advance(3 * STEP)
    assert operation(client, headers, process_id)["data"]["result"] is False
    again = client.post(f"/mobbid/_sandbox/choose/{process_id}", json={"choice": "verified"})
    assert again.status_code == 409
    unknown = client.post(f"/mobbid/_sandbox/choose/{uuid.uuid4()}", json={"choice": "verified"})
    assert unknown.status_code == 404
    bad = client.post(f"/mobbid/_sandbox/choose/{process_id}", json={"choice": "maybe"})
    assert bad.status_code == 400


def test_choose_method(sandbox: MobbidSandbox, client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-42")
    with pytest.raises(ValueError):
        sandbox.choose(process_id, "maybe")
    with pytest.raises(KeyError):
        sandbox.choose("nope", "verified")
    sandbox.choose(process_id, "error")
    with pytest.raises(AlreadyChosenError):
        sandbox.choose(process_id, "verified")
    clock.advance(3 * STEP)
    assert operation(client, headers, process_id)["status"] == "ERROR"


def test_stats_without_user_ids_or_tokens(sandbox: MobbidSandbox, client: Client, clock: FakeClock) -> None:
    headers = bearer(client)
    verified = new_process(client, headers, "user-verified")
    waiting = new_process(client, headers, "user-42")
    process(client, headers, verified)
    assert create(client, headers, userId="user-banned").status_code == 429
    clock.advance(3 * STEP)
    operation(client, headers, verified)
    stats = sandbox.stats()
    assert stats["calls"] == {"authorization": 1, "create": 3, "process": 2, "operation": 1}
    assert stats["processes"] == [
        {
            "id": verified,
            "status": "COMPLETED",
            "operation_status": "SUCCESS",
            "chosen_at": START,
            "completed_at": START + 3 * STEP,
        },
        {
            "id": waiting,
            "status": "CREATED",
            "operation_status": None,
            "chosen_at": None,
            "completed_at": None,
        },
    ]
    served = client.get("/mobbid/_sandbox/stats")
    assert body(served) == stats
    text = served.get_data(as_text=True)
    token = headers["Authorization"].removeprefix("Bearer ")
    for secret in ("user-verified", "user-42", "user-banned", token, API_KEY, token.split(".")[2]):
        assert secret not in text


def test_reset_clears_processes_but_keeps_tokens(sandbox: MobbidSandbox, client: Client) -> None:
    headers = bearer(client)
    process_id = new_process(client, headers, "user-verified")
    assert client.post("/mobbid/_sandbox/reset").status_code == 200
    assert sandbox.stats() == {
        "calls": {"authorization": 0, "create": 0, "process": 0, "operation": 0},
        "processes": [],
    }
    assert client.get(f"{API}/gateway/process/{process_id}", headers=headers).status_code == 404
    assert create(client, headers).status_code == 201


def test_concurrent_choices_start_a_process_once(sandbox: MobbidSandbox, client: Client) -> None:
    process_id = new_process(client, bearer(client), "user-42")
    outcomes: list[str] = []
    lock = threading.Lock()

    def pick(choice: str) -> None:
        try:
            sandbox.choose(process_id, choice)
            outcome = "chosen"
        except AlreadyChosenError:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=pick, args=(mobbid.CHOICES[i % 3],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["chosen"] + ["refused"] * 11


def test_personas_cover_the_scripted_users() -> None:
    ids = {p["user_id"] for p in PERSONAS}
    expected = {"user-verified", "user-not-same", "user-error", "user-slow", "user-never", "user-banned"}
    assert ids >= {*expected, "user-flaky"}
    assert all(p["outcome"] for p in PERSONAS)
