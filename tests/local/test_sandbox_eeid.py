"""Behaviour of the local eeID identification API sandbox."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from local.sandboxes import __main__ as sandbox_main
from local.sandboxes import eeid
from local.sandboxes.eeid import PERSONS, EeidSandbox
from tests.conftest import START, FakeClock

CLIENT_ID = "test-client"
SECRET = "test-secret-value"
WEBHOOK_URL = "http://broker.test/eeid/webhooks/identification_requests"
TTL = 120
API = "/eeid/api/ident/v1/identification_requests"
SUB_REQUIRED = {
    "error": 'Claims required must include at least one claim of type "sub" with a non-empty value'
}
UNAUTHORIZED = {"error": "Unauthorized"}


class Recorder:
    """An injected ``post``: records each delivery and answers with the next scripted status."""

    def __init__(self, *statuses: int | Exception) -> None:
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []
        self._statuses = list(statuses)
        self._changed = threading.Condition()

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        with self._changed:
            self.calls.append((url, body, headers))
            self._changed.notify_all()
            answer = self._statuses.pop(0) if self._statuses else 204
        if isinstance(answer, Exception):
            raise answer
        return answer

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes, dict[str, str]]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sandbox(clock: FakeClock, recorder: Recorder) -> EeidSandbox:
    return EeidSandbox(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        webhook_url=WEBHOOK_URL,
        webhook_delay=0.01,
        deliveries=2,
        token_ttl=TTL,
        clock=clock,
        post=recorder,
    )


@pytest.fixture
def client(sandbox: EeidSandbox) -> Client:
    # Mounted like the local stack does, so links must carry the /eeid prefix.
    return Client(DispatcherMiddleware(Response("outside", status=404), {"/eeid": sandbox}))


def basic(user: str = CLIENT_ID, password: str = SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body(response: TestResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    result = json.loads(response.get_data(as_text=True))
    assert isinstance(result, dict)
    return result


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for the webhook thread to record its deliveries (the only real waiting in these tests)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "webhook deliveries were not recorded in time"
        time.sleep(0.005)


def get_token(client: Client) -> str:
    response = client.post("/eeid/api/auth/v1/token", headers=basic())
    assert response.status_code == 201
    return str(body(response)["access_token"])


def create(client: Client, token: str, sub: str = "EE30303039914", **extra: Any) -> dict[str, Any]:
    payload = {"reference": "order-1", "claims_required": [{"type": "sub", "value": sub}], **extra}
    response = client.post(API, json=payload, headers=bearer(token))
    assert response.status_code == 201
    return body(response)


def fetch(client: Client, token: str, request_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/{request_id}", headers=bearer(token))
    assert response.status_code == 200
    return body(response)


def local_path(link: str) -> str:
    assert link.startswith("http://localhost/")
    return link.removeprefix("http://localhost")


def iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Token


def test_token_is_issued_for_the_client_credentials(client: Client, sandbox: EeidSandbox) -> None:
    response = client.post("/eeid/api/auth/v1/token", headers=basic())

    assert response.status_code == 201
    data = body(response)
    assert list(data) == ["access_token", "token_type", "expires_in"]
    assert data["token_type"] == "Bearer" and data["expires_in"] == TTL
    assert len(data["access_token"]) >= 32
    assert get_token(client) != data["access_token"]
    assert sandbox.stats()["calls"]["token"] == 2


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(password="wrong"),
        basic(user="other-client"),
        basic(password=SECRET + "x"),
        {"Authorization": f"Bearer {base64.b64encode(f'{CLIENT_ID}:{SECRET}'.encode()).decode()}"},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": f"Basic {base64.b64encode(CLIENT_ID.encode()).decode()}"},
    ],
    ids=["missing", "wrong-secret", "wrong-id", "longer-secret", "bearer-scheme", "garbage", "no-colon"],
)
def test_token_refuses_wrong_credentials(
    client: Client, sandbox: EeidSandbox, headers: dict[str, str]
) -> None:
    response = client.post("/eeid/api/auth/v1/token", headers=headers)

    assert response.status_code == 401
    assert body(response) == {"error": "Invalid credentials"}
    assert sandbox.stats()["calls"]["token"] == 1


def test_token_expires_after_its_ttl(client: Client, clock: FakeClock) -> None:
    token = get_token(client)
    request_id = create(client, token)["id"]

    clock.advance(TTL - 1)
    assert client.get(API, headers=bearer(token)).status_code == 200

    clock.advance(1)
    for response in (
        client.get(API, headers=bearer(token)),
        client.get(f"{API}/{request_id}", headers=bearer(token)),
        client.get(f"{API}/{request_id}/proof_of_identity", headers=bearer(token)),
        client.post(
            API, json={"claims_required": [{"type": "sub", "value": "EE30303039914"}]}, headers=bearer(token)
        ),
    ):
        assert response.status_code == 401
        assert body(response) == UNAUTHORIZED
    assert fetch(client, get_token(client), request_id)["id"] == request_id


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-token"), {"Authorization": "Bearer "}, basic()],
    ids=["missing", "unknown", "empty", "basic"],
)
def test_ident_routes_need_a_bearer_token(client: Client, headers: dict[str, str]) -> None:
    response = client.get(API, headers=headers)

    assert response.status_code == 401
    assert body(response) == UNAUTHORIZED


# Create, get, list


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"claims_required": []},
        {"claims_required": [{"type": "sub", "value": ""}]},
        {"claims_required": [{"type": "sub", "value": "   "}]},
        {"claims_required": [{"type": "name", "value": "OK TESTNUMBER"}]},
        {"reference": "x", "claims_required": [{"type": "sub"}]},
    ],
    ids=["no-claims", "empty-claims", "empty-sub", "blank-sub", "only-name", "sub-without-value"],
)
def test_create_needs_a_non_empty_sub_claim(client: Client, payload: dict[str, Any]) -> None:
    response = client.post(API, json=payload, headers=bearer(get_token(client)))

    assert response.status_code == 422
    assert body(response) == SUB_REQUIRED


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "an", "object"],
        {"claims_required": "sub"},
        {"claims_required": [{"type": "email", "value": "a@b.c"}, {"type": "sub", "value": "EE30303039914"}]},
        {"claims_required": [{"type": "sub", "value": 30303039914}]},
        {"reference": 5, "claims_required": [{"type": "sub", "value": "EE30303039914"}]},
    ],
    ids=["array-body", "claims-not-array", "unknown-type", "number-value", "number-reference"],
)
def test_create_rejects_malformed_bodies(client: Client, payload: Any) -> None:
    response = client.post(API, json=payload, headers=bearer(get_token(client)))

    assert response.status_code == 422
    assert isinstance(body(response)["error"], str)


def test_create_returns_a_pending_identification_request(client: Client, clock: FakeClock) -> None:
    claims = [{"type": "sub", "value": "EE30303039914"}, {"type": "country", "value": "EE"}]
    response = client.post(
        API, json={"reference": "order-1", "claims_required": claims}, headers=bearer(get_token(client))
    )

    assert response.status_code == 201
    data = body(response)
    assert list(data) == [
        "id",
        "link",
        "link_expires_at",
        "claims_required",
        "status",
        "created_at",
        "completed_at",
        "client_id",
        "reference",
        "result",
        "claims_matched",
        "mismatched_claims",
    ]
    assert uuid.UUID(data["id"]).version == 4
    assert data["link"] == f"http://localhost/eeid/ident/{data['id']}"
    assert data["link_expires_at"] == iso(START + 7 * 24 * 3600)
    assert data["created_at"] == iso(START) == "2023-11-14T22:13:20Z"
    assert data["claims_required"] == claims
    assert data["status"] == "pending"
    assert data["client_id"] == CLIENT_ID and data["reference"] == "order-1"
    assert (
        data["completed_at"] is data["result"] is data["claims_matched"] is data["mismatched_claims"] is None
    )


def test_create_without_reference_echoes_null(client: Client) -> None:
    response = client.post(
        API,
        json={"claims_required": [{"type": "sub", "value": "EE30303039914"}]},
        headers=bearer(get_token(client)),
    )

    assert response.status_code == 201
    assert body(response)["reference"] is None


def test_get_returns_the_request_or_404(client: Client) -> None:
    token = get_token(client)
    created = create(client, token)

    assert fetch(client, token, created["id"]) == created
    missing = client.get(f"{API}/{uuid.uuid4()}", headers=bearer(token))
    assert missing.status_code == 404
    assert body(missing) == {"error": "Request not found"}


def test_a_pending_request_past_its_link_expiry_reads_as_expired(
    client: Client, clock: FakeClock, sandbox: EeidSandbox
) -> None:
    request_id = create(client, get_token(client))["id"]

    clock.advance(7 * 24 * 3600)
    assert fetch(client, get_token(client), request_id)["status"] == "expired"
    page = client.get(f"/eeid/ident/{request_id}")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    sandbox.complete(request_id, "match")
    assert fetch(client, get_token(client), request_id)["status"] == "expired"


def test_list_pages_newest_first(client: Client) -> None:
    token = get_token(client)
    ids = [create(client, token, reference=f"r{i}")["id"] for i in range(3)]

    first = body(client.get(API, query_string={"page": 1, "page_size": 2}, headers=bearer(token)))
    second = body(client.get(API, query_string={"page": 2, "page_size": 2}, headers=bearer(token)))
    beyond = body(client.get(API, query_string={"page": 3, "page_size": 2}, headers=bearer(token)))
    default = body(client.get(API, headers=bearer(token)))

    assert {k: first[k] for k in ("page", "page_size", "total")} == {"page": 1, "page_size": 2, "total": 3}
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    assert second["page"] == 2 and [i["id"] for i in second["items"]] == [ids[0]]
    assert beyond["items"] == [] and beyond["total"] == 3
    assert default["page"] == 1 and default["page_size"] == 10
    assert [i["id"] for i in default["items"]] == ids[::-1]
    assert default["items"][0] == fetch(client, token, ids[2])


@pytest.mark.parametrize("query", [{"page": 0}, {"page": "x"}, {"page_size": 0}, {"page_size": 101}])
def test_list_rejects_bad_paging(client: Client, query: dict[str, Any]) -> None:
    response = client.get(API, query_string=query, headers=bearer(get_token(client)))

    assert response.status_code == 422
    assert "error" in body(response)


# The end user's page, completion and webhooks


def test_link_page_shows_the_claims_with_the_subject_masked(client: Client) -> None:
    claims = [{"type": "sub", "value": "EE30303039914"}, {"type": "birthdate", "value": "1903-03-03"}]
    created = client.post(
        API, json={"reference": "r", "claims_required": claims}, headers=bearer(get_token(client))
    )

    request_id = body(created)["id"]
    page = client.get(local_path(body(created)["link"]))

    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "<title>eeID sandbox</title>" in text
    assert "EE*********14" in text
    assert "30303039914" not in text and "1903-03-03" not in text
    assert "(sub)" in text and "(birthdate)" in text
    assert f'action="/eeid/ident/{request_id}/authenticate"' in text
    assert 'name="choice" value="match"' in text and 'name="choice" value="mismatch"' in text
    assert "http" not in text and "<script" not in text and "<link" not in text


def test_link_page_masks_a_latvian_code(client: Client) -> None:
    request_id = create(client, get_token(client), sub="LV050405-10009")["id"]

    text = client.get(f"/eeid/ident/{request_id}").get_data(as_text=True)

    assert "LV**********09" in text and "050405" not in text


def test_link_page_of_an_unknown_request_is_404(client: Client) -> None:
    page = client.get(f"/eeid/ident/{uuid.uuid4()}")
    assert page.status_code == 404 and page.mimetype == "text/html"
    post = client.post(f"/eeid/ident/{uuid.uuid4()}/authenticate", data={"choice": "match"})
    assert post.status_code == 404 and post.mimetype == "text/html"


def test_match_via_the_page_completes_and_sends_two_signed_webhooks(
    client: Client, clock: FakeClock, recorder: Recorder, sandbox: EeidSandbox
) -> None:
    token = get_token(client)
    request_id = create(client, token)["id"]

    clock.advance(30)
    response = client.post(f"/eeid/ident/{request_id}/authenticate", data={"choice": "match"})

    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Authenticated — you can close this window" in response.get_data(as_text=True)
    data = fetch(client, token, request_id)
    assert data["status"] == "completed"
    assert data["completed_at"] == iso(START + 30)
    assert data["result"] == {
        "acr": "high",
        "sub": "EE30303039914",
        "auth_time": int(START + 30),
        "given_name": "OK",
        "family_name": "TESTNUMBER",
        "date_of_birth": "1903-03-03",
        "expiration_time": None,
        "authentication_type": "MOBILE_ID",
    }
    assert data["claims_matched"] is True and data["mismatched_claims"] is None

    calls = recorder.wait_for(2)
    assert len(calls) == 2
    expected_body = json.dumps(
        {"identification_request_id": request_id, "client_id": CLIENT_ID, "reference": "order-1"},
        separators=(",", ":"),
    ).encode()
    for url, sent, headers in calls:
        assert url == WEBHOOK_URL
        assert sent == expected_body
        assert headers["Content-Type"] == "application/json"
        signature = hmac.new(SECRET.encode(), sent, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-HMAC-Signature"], signature)
    wait_until(lambda: sandbox.stats()["webhooks"] == {"sent": 2, "failed": 0})
    assert sandbox.stats()["requests"][0]["webhook_sent_at"] == [START + 30, START + 30]

    again = client.post(f"/eeid/ident/{request_id}/authenticate", data={"choice": "mismatch"})
    assert again.status_code == 409 and "already been completed" in again.get_data(as_text=True)
    assert client.get(f"/eeid/ident/{request_id}").get_data(as_text=True).count("already been completed") == 1
    assert fetch(client, token, request_id)["claims_matched"] is True


@pytest.mark.parametrize(
    ("requested", "actual", "name"),
    [
        ("EE60001017869", "EE30303039914", ("OK", "TESTNUMBER", "1903-03-03")),
        ("EE30303039914", "EE39901012239", ("SMART-ID", "TESTNUMBER", "1999-01-01")),
    ],
)
def test_mismatch_authenticates_another_person(
    client: Client, recorder: Recorder, requested: str, actual: str, name: tuple[str, str, str]
) -> None:
    token = get_token(client)
    request_id = create(client, token, sub=requested)["id"]

    response = client.post(f"/eeid/ident/{request_id}/authenticate", data={"choice": "mismatch"})

    assert response.status_code == 200
    data = fetch(client, token, request_id)
    assert data["status"] == "completed"
    assert data["claims_matched"] is False
    assert data["mismatched_claims"] == {"sub": {"expected": requested, "actual": actual}}
    result = data["result"]
    assert (result["sub"], result["given_name"], result["family_name"], result["date_of_birth"]) == (
        actual,
        *name,
    )
    assert len(recorder.wait_for(2)) == 2


def test_mismatch_lists_every_claim_that_differs(client: Client, sandbox: EeidSandbox) -> None:
    claims = [
        {"type": "sub", "value": "LT40504040001"},
        {"type": "name", "value": "ONA TESTNUMBER"},
        {"type": "country", "value": "LT"},
        {"type": "birthdate", "value": "1903-03-03"},
    ]
    token = get_token(client)
    request_id = body(client.post(API, json={"claims_required": claims}, headers=bearer(token)))["id"]

    sandbox.complete(request_id, "mismatch", webhook=False)

    assert fetch(client, token, request_id)["mismatched_claims"] == {
        "sub": {"expected": "LT40504040001", "actual": "EE30303039914"},
        "name": {"expected": "ONA TESTNUMBER", "actual": "OK TESTNUMBER"},
        "country": {"expected": "LT", "actual": "EE"},
    }


@pytest.mark.parametrize(
    ("sub", "date_of_birth"),
    [
        ("EE38001085718", "1980-01-08"),
        ("LT50001018865", "2000-01-01"),
        ("LV311212-29999", "2012-12-31"),
        ("EEAB1234567", None),
        ("EE39913319999", None),
    ],
)
def test_match_of_any_other_subject_is_a_test_person(
    client: Client, sandbox: EeidSandbox, sub: str, date_of_birth: str | None
) -> None:
    token = get_token(client)
    request_id = create(client, token, sub=sub)["id"]

    sandbox.complete(request_id, "match", webhook=False)

    result = fetch(client, token, request_id)["result"]
    assert (result["sub"], result["given_name"], result["family_name"]) == (sub, "TEST", "PERSON")
    assert result["date_of_birth"] == date_of_birth


def test_expire_sends_no_webhook(client: Client, recorder: Recorder, sandbox: EeidSandbox) -> None:
    token = get_token(client)
    expired_id = create(client, token)["id"]
    matched_id = create(client, token)["id"]

    sandbox.complete(expired_id, "expire")
    sandbox.complete(matched_id, "match")

    expired = fetch(client, token, expired_id)
    assert expired["status"] == "expired"
    assert expired["completed_at"] is expired["result"] is expired["claims_matched"] is None
    calls = recorder.wait_for(2)
    assert all(json.loads(sent)["identification_request_id"] == matched_id for _, sent, _ in calls)
    sandbox.complete(expired_id, "match")
    assert fetch(client, token, expired_id)["status"] == "expired"
    assert client.get(f"/eeid/ident/{expired_id}").status_code == 410


def test_failed_deliveries_are_retried_three_times(clock: FakeClock) -> None:
    recorder = Recorder(500, OSError("refused"), 503, 500, 500, 201)
    sandbox = EeidSandbox(
        client_secret=SECRET,
        webhook_url=WEBHOOK_URL,
        webhook_delay=0.01,
        deliveries=2,
        clock=clock,
        post=recorder,
    )
    client = Client(sandbox)
    token = body(client.post("/api/auth/v1/token", headers=basic("sandbox-eeid-client")))["access_token"]
    request_id = body(
        client.post(
            "/api/ident/v1/identification_requests",
            json={"claims_required": [{"type": "sub", "value": "EE30303039914"}]},
            headers=bearer(token),
        )
    )["id"]

    sandbox.complete(request_id, "match")

    # The first delivery gives up after 1 + 3 attempts; the second fails once, then is acknowledged.
    calls = recorder.wait_for(6)
    assert len({sent for _, sent, _ in calls}) == 1
    wait_until(lambda: sandbox.stats()["webhooks"] == {"sent": 1, "failed": 5})
    stats = sandbox.stats()
    assert stats["requests"][0]["webhook_sent_at"] == [START]


def test_without_a_webhook_url_nothing_is_posted(clock: FakeClock, recorder: Recorder) -> None:
    sandbox = EeidSandbox(clock=clock, post=recorder, webhook_delay=0.0)
    client = Client(sandbox)
    token = body(
        client.post("/api/auth/v1/token", headers=basic("sandbox-eeid-client", "sandbox-eeid-secret"))
    )
    created = client.post(
        "/api/ident/v1/identification_requests",
        json={"claims_required": [{"type": "sub", "value": "EE30303039914"}]},
        headers=bearer(token["access_token"]),
    )
    request_id = body(created)["id"]

    assert body(created)["link"] == f"http://localhost/ident/{request_id}"
    assert client.post(f"/ident/{request_id}/authenticate", data={"choice": "match"}).status_code == 200
    assert sandbox.stats()["webhooks"] == {"sent": 0, "failed": 0}
    assert sandbox.stats()["requests"][0]["status"] == "completed"


def test_page_post_needs_a_valid_choice(client: Client) -> None:
    request_id = create(client, get_token(client))["id"]

    response = client.post(f"/eeid/ident/{request_id}/authenticate", data={"choice": "expire"})

    assert response.status_code == 400
    assert client.get(f"/eeid/ident/{request_id}").status_code == 200


def test_complete_rejects_unknown_ids_and_outcomes(client: Client, sandbox: EeidSandbox) -> None:
    request_id = create(client, get_token(client))["id"]

    with pytest.raises(KeyError):
        sandbox.complete(str(uuid.uuid4()), "match")
    with pytest.raises(ValueError):
        sandbox.complete(request_id, "approve")


# Proof of identity


def pdf_objects(pdf: bytes) -> dict[int, bytes]:
    """Check the xref table against the file and return each object's body by number."""
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF$", pdf)[1])  # type: ignore[index]
    assert pdf[startxref:].startswith(b"xref\n0 ")
    header, *entries = pdf[startxref:].split(b"trailer")[0].split(b"\n")[1:-1]
    first, count = map(int, header.split())
    assert first == 0 and len(entries) == count
    assert entries[0] == b"0000000000 65535 f "
    objects: dict[int, bytes] = {}
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) + 1 == 20
        offset = int(entry[:10])
        assert entry.endswith(b" 00000 n ")
        prefix = b"%d 0 obj\n" % number
        assert pdf[offset:].startswith(prefix)
        objects[number] = pdf[offset + len(prefix) : pdf.index(b"\nendobj\n", offset)]
    trailer = pdf.split(b"trailer\n")[1]
    assert f"/Size {count}".encode() in trailer and b"/Root 1 0 R" in trailer
    return objects


def pdf_text(pdf: bytes) -> list[str]:
    objects = pdf_objects(pdf)
    assert objects[1].startswith(b"<< /Type /Catalog")
    page = next(o for o in objects.values() if o.startswith(b"<< /Type /Page "))
    contents = int(re.search(rb"/Contents (\d+) 0 R", page)[1])  # type: ignore[index]
    match = re.fullmatch(rb"<< /Length (\d+) >>\nstream\n(.*)\nendstream", objects[contents], re.S)
    assert match is not None
    assert len(match[2]) == int(match[1])
    strings = re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", match[2])
    return [re.sub(rb"\\(.)", rb"\1", s).decode("cp1252") for s in strings]


def test_proof_of_identity_is_a_valid_deterministic_pdf(
    client: Client, clock: FakeClock, sandbox: EeidSandbox
) -> None:
    token = get_token(client)
    request_id = create(client, token, sub="EE60001017869")["id"]
    proof_path = f"{API}/{request_id}/proof_of_identity"
    before = client.get(proof_path, headers=bearer(token))
    assert before.status_code == 404
    assert body(before) == {"error": "Proof of identity not found"}

    clock.advance(61)
    sandbox.complete(request_id, "match", webhook=False)
    first = client.get(proof_path, headers=bearer(token))
    clock.advance(60)
    second = client.get(proof_path, headers=bearer(get_token(client)))

    assert first.status_code == 200 and first.mimetype == "application/pdf"
    pdf = first.get_data()
    assert pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF")
    assert second.get_data() == pdf
    lines = pdf_text(pdf)
    assert lines[0] == "eeID proof of identity"
    assert f"Identification request: {request_id}" in lines
    assert f"Completed at: {iso(START + 61)}" in lines
    assert "Country: EE" in lines and "Name: EID2016 TESTNUMBER" in lines
    assert b"60001017869" not in pdf


def test_proof_of_unknown_or_expired_requests_is_404(client: Client, sandbox: EeidSandbox) -> None:
    token = get_token(client)
    request_id = create(client, token)["id"]
    sandbox.complete(request_id, "expire")

    for target in (request_id, str(uuid.uuid4())):
        response = client.get(f"{API}/{target}/proof_of_identity", headers=bearer(token))
        assert response.status_code == 404
        assert body(response) == {"error": "Proof of identity not found"}


# Admin routes and stats


def test_admin_complete_route(client: Client, recorder: Recorder, sandbox: EeidSandbox) -> None:
    token = get_token(client)
    quiet, loud, gone = (create(client, token)["id"] for _ in range(3))

    response = client.post(f"/eeid/_sandbox/complete/{quiet}", json={"outcome": "mismatch", "webhook": False})
    assert response.status_code == 200 and body(response) == {"status": "completed"}
    assert fetch(client, token, quiet)["claims_matched"] is False
    expired = client.post(f"/eeid/_sandbox/complete/{gone}", json={"outcome": "expire"})
    assert body(expired) == {"status": "expired"}
    again = client.post(f"/eeid/_sandbox/complete/{gone}", json={"outcome": "match"})
    assert again.status_code == 200 and body(again) == {"status": "expired"}

    assert client.post(f"/eeid/_sandbox/complete/{loud}", json={"outcome": "match"}).status_code == 200
    calls = recorder.wait_for(2)
    assert {json.loads(sent)["identification_request_id"] for _, sent, _ in calls} == {loud}

    unknown = client.post(f"/eeid/_sandbox/complete/{uuid.uuid4()}", json={"outcome": "match"})
    assert unknown.status_code == 404 and body(unknown) == {"error": "Request not found"}
    bad = client.post(f"/eeid/_sandbox/complete/{loud}", json={"outcome": "approve"})
    assert bad.status_code == 400
    bad_flag = client.post(f"/eeid/_sandbox/complete/{loud}", json={"outcome": "match", "webhook": "no"})
    assert bad_flag.status_code == 400


def test_stats_count_calls_without_personal_data(client: Client, sandbox: EeidSandbox) -> None:
    client.post("/eeid/api/auth/v1/token", headers=basic(password="wrong"))
    token = get_token(client)
    claims = [{"type": "sub", "value": "EE39901012239"}, {"type": "name", "value": "SMART-ID TESTNUMBER"}]
    request_id = body(
        client.post(API, json={"reference": "ref-77", "claims_required": claims}, headers=bearer(token))
    )["id"]
    client.post(API, json={}, headers=bearer(token))
    client.get(API, headers=bearer(token))
    client.get(f"{API}/{request_id}", headers=bearer(token))
    client.get(f"{API}/{request_id}/proof_of_identity", headers=bearer(token))
    client.get(f"/eeid/ident/{request_id}")
    client.post(f"/eeid/ident/{request_id}/authenticate", data={"choice": "mismatch"})
    client.get(f"{API}/{request_id}/proof_of_identity", headers=bearer(token))
    wait_until(lambda: sandbox.stats()["webhooks"]["sent"] == 2)

    stats = body(client.get("/eeid/_sandbox/stats"))

    assert stats["calls"] == {"token": 2, "create": 2, "get": 1, "list": 1, "proof": 2}
    assert stats["webhooks"] == {"sent": 2, "failed": 0}
    [entry] = stats["requests"]
    assert set(entry) == {"id", "status", "claims_matched", "completed_at", "webhook_sent_at"}
    assert entry["id"] == request_id and entry["status"] == "completed" and entry["claims_matched"] is False
    assert entry["completed_at"] == START
    text = json.dumps(stats)
    for secret in (
        "39901012239",
        "30303039914",
        "TESTNUMBER",
        "SMART-ID",
        "OK",
        "1999-01-01",
        "ref-77",
        token,
        SECRET,
    ):
        assert secret not in text


def test_reset_forgets_requests_tokens_and_counters(client: Client) -> None:
    token = get_token(client)
    request_id = create(client, token)["id"]

    assert body(client.post("/eeid/_sandbox/reset")) == {"status": "ok"}

    stats = body(client.get("/eeid/_sandbox/stats"))
    assert stats == {
        "calls": dict.fromkeys(("token", "create", "get", "list", "proof"), 0),
        "webhooks": {"sent": 0, "failed": 0},
        "requests": [],
    }
    assert client.get(API, headers=bearer(token)).status_code == 401
    assert client.get(f"{API}/{request_id}", headers=bearer(get_token(client))).status_code == 404


def test_concurrent_creates_are_all_kept(client: Client, sandbox: EeidSandbox) -> None:
    token = get_token(client)
    errors: list[AssertionError] = []

    def worker() -> None:
        try:
            for _ in range(10):
                create(client, token)
        except AssertionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert body(client.get(API, headers=bearer(token)))["total"] == 80
    assert sandbox.stats()["calls"]["create"] == 80


# Test persons


def ee_lt_check_digit(code: str) -> int:
    digits = [int(c) for c in code[:10]]
    for weights in ((1, 2, 3, 4, 5, 6, 7, 8, 9, 1), (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)):
        check = sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
        if check != 10:
            return check
    return 0


def lv_check_digit(code: str) -> int:
    digits = [int(c) for c in code.replace("-", "")[:10]]
    weights = (10, 5, 8, 4, 2, 1, 6, 3, 7, 9)
    return (1 + sum(w * d for w, d in zip(weights, digits, strict=True))) % 11 % 10


@pytest.mark.parametrize("person", PERSONS, ids=[p["subject"] for p in PERSONS])
def test_test_persons_have_valid_codes_and_matching_birth_dates(person: dict[str, str]) -> None:
    subject = person["subject"]
    code = subject[2:]
    if subject.startswith("LV"):
        assert int(code[-1]) == lv_check_digit(code)
    else:
        assert int(code[-1]) == ee_lt_check_digit(code)
    assert eeid._date_of_birth(subject) == person["date_of_birth"]
    assert person["given_name"] and person["family_name"]


def test_main_serves_with_the_webhook_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: dict[str, Any] = {}

    def fake_run_simple(host: str, port: int, app: EeidSandbox, **kwargs: Any) -> None:
        served.update(host=host, port=port, app=app)

    monkeypatch.setattr(sandbox_main, "run_simple", fake_run_simple)

    sandbox_main.main(["eeid", "--port", "9999", "--webhook-url", WEBHOOK_URL])

    assert served["host"] == "127.0.0.1" and served["port"] == 9999
    assert served["app"]._webhook_url == WEBHOOK_URL
    assert "sandbox-eeid-secret" not in capsys.readouterr().out
