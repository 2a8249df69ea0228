"""eeID through the real handlers, the real ASL (Standard workflow) and the eeID sandbox over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import pytest

from eid_broker import config
from eid_broker.errors import ProviderUnavailable
from eid_broker.methods import eeid as eeid_method
from eid_broker.sessions.service import SessionService
from local.emulator.cfn import function_config
from tests.conftest import EEID_CLIENT, Served
from tests.integration.conftest import Deployed, _Context

SUBJECT = "EE30303039914"
FALLBACK = "EeidFallbackStateMachine"


def sign(body: bytes, secret: str = EEID_CLIENT[1]) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def in_webhook(deployed: Deployed) -> bool:
    """Whether this thread runs the webhook function (the fallback poll reads eeID too, legitimately)."""
    webhook = function_config(deployed.resolver, "EeidWebhookFunction").name
    return config.get_settings() is deployed.settings[webhook]  # each function has its own settings


def start(deployed: Deployed) -> dict:
    started = deployed.start({"subject": SUBJECT, "reference": "order-9"}, "eeid")
    assert started["status"] == 201, started
    return started["body"]


def request_id(eeid: Served) -> str:
    return eeid.app.stats()["requests"][0]["id"]


def event_body(request: str, session_id: str) -> bytes:
    payload = {"identification_request_id": request, "client_id": EEID_CLIENT[0], "reference": session_id}
    return json.dumps(payload, separators=(",", ":")).encode()


def test_start_returns_the_link_and_no_webhook_is_needed_to_finish(deployed: Deployed, eeid: Served) -> None:
    session = start(deployed)
    assert session["status"] == "pending" and session["reference"] == "order-9"
    assert session["next_action"]["type"] == "redirect"
    assert session["next_action"]["url"].startswith(f"{eeid.url}/ident/")
    # the link lives 7 days and so does the session
    assert session["expires_at"] == session["next_action"]["expires_at"]

    eeid.app.complete(request_id(eeid), "match", webhook=False)
    execution = deployed.execution(session["session_id"], timeout=30, machine=FALLBACK)

    assert execution["status"] == "SUCCEEDED"
    final = deployed.session(session["session_id"])
    assert final["status"] == "completed"
    identity = final["identity"]
    assert (identity["country"], identity["personal_code"], identity["subject"]) == (
        "EE",
        "30303039914",
        SUBJECT,
    )
    assert (identity["given_name"], identity["surname"], identity["date_of_birth"]) == (
        "OK",
        "TESTNUMBER",
        "1903-03-03",
    )
    assert identity["evidence"]["acr"] == "high" and identity["evidence"]["claims_matched"] is True
    assert identity["evidence"]["identification_request_id"] == request_id(eeid)


def test_four_concurrent_duplicate_webhooks_make_one_completion(
    deployed: Deployed, eeid: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = start(deployed)
    request = request_id(eeid)
    eeid.app.complete(request, "match", webhook=False)
    # Count the webhook path's reads of eeID only (the fallback poll may read meanwhile, legitimately).
    webhook_reads: list[str] = []
    checked = eeid_method.METHOD.check

    def counted(record: object) -> object:
        if in_webhook(deployed):
            webhook_reads.append(record.session_id)  # type: ignore[attr-defined]
        return checked(record)  # type: ignore[arg-type]

    monkeypatch.setattr(eeid_method.METHOD, "check", counted)
    body = event_body(request, session["session_id"])
    answers: list[int] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        answers.append(deployed.webhook(body, sign(body))["status"])

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [204, 204, 204, 204]
    assert deployed.session(session["session_id"])["status"] == "completed"
    assert len(webhook_reads) <= 1  # at most one delivery fetched; the others were duplicates


def test_forged_webhooks_get_401_and_change_nothing(deployed: Deployed, eeid: Served) -> None:
    session = start(deployed)
    request = request_id(eeid)
    eeid.app.complete(request, "match", webhook=False)
    reads_before = eeid.app.stats()["calls"]["get"]
    body = event_body(request, session["session_id"])
    spaced = json.dumps(json.loads(body), indent=1).encode()
    for forged_body, signature in [
        (body.replace(b"sandbox", b"sandbax"), sign(body)),  # tampered
        (spaced.replace(b'"', b"'", 1), sign(spaced)),  # changed after signing
        (body, sign(body, "not-the-secret")),
        (body, None),
    ]:
        answer = deployed.webhook(forged_body, signature)
        assert answer["status"] == 401 and json.loads(answer["body"])["code"] == "INVALID_SIGNATURE"
    assert eeid.app.stats()["calls"]["get"] == reads_before
    assert deployed.session(session["session_id"])["status"] == "pending"


def test_a_mismatch_fails_without_naming_values(deployed: Deployed, eeid: Served) -> None:
    session = start(deployed)
    request = request_id(eeid)
    eeid.app.complete(request, "mismatch", webhook=False)
    body = event_body(request, session["session_id"])
    assert deployed.webhook(body, sign(body))["status"] == 204
    final = deployed.session(session["session_id"])
    assert final["status"] == "failed" and final["error"]["code"] == "CLAIMS_MISMATCH"
    assert "sub" in final["error"]["message"] and "39901012239" not in json.dumps(final)


def test_webhooks_for_unknown_or_final_sessions_are_acknowledged(deployed: Deployed, eeid: Served) -> None:
    session = start(deployed)
    request = request_id(eeid)
    unknown = event_body("0e9b2c2e-0000-4000-8000-000000000000", session["session_id"])
    assert deployed.webhook(unknown, sign(unknown))["status"] == 204
    deployed.api(
        "SessionCancelFunction", "DELETE", "/v1/sessions/{session_id}", session_id=session["session_id"]
    )
    eeid.app.complete(request, "match", webhook=False)
    late = event_body(request, session["session_id"])
    assert deployed.webhook(late, sign(late))["status"] == 204
    assert deployed.session(session["session_id"])["status"] == "cancelled"


def test_one_token_serves_many_sessions_and_a_refused_token_is_refreshed_once(
    deployed: Deployed, eeid: Served
) -> None:
    for _ in range(3):
        start(deployed)
    assert eeid.app.stats()["calls"]["token"] == 1
    # eeID forgets the token early (its clock moves past expiry): one 401, one refresh, one retry
    eeid.app.test_clock.offset = 200  # type: ignore[attr-defined]
    start(deployed)
    assert eeid.app.stats()["calls"]["token"] == 2
    assert eeid.app.stats()["calls"]["create"] == 5  # 3 + the refused one + its retry


def test_proof_is_streamed_byte_exact_and_only_for_completed_eeid_sessions(
    deployed: Deployed, eeid: Served
) -> None:
    session = start(deployed)
    request = request_id(eeid)
    early = deployed.handler("EeidProofFunction").lambda_handler(
        _proof_event(session["session_id"]), _Context("proof")
    )
    assert early["statusCode"] == 409
    eeid.app.complete(request, "match", webhook=False)
    body = event_body(request, session["session_id"])
    deployed.webhook(body, sign(body))
    proof = deployed.handler("EeidProofFunction").lambda_handler(
        _proof_event(session["session_id"]), _Context("proof")
    )
    assert proof["statusCode"] == 200 and proof["isBase64Encoded"] is True
    assert proof["multiValueHeaders"]["Content-Type"] == ["application/pdf"]
    import base64

    import requests

    token = requests.post(f"{eeid.url}/api/auth/v1/token", auth=EEID_CLIENT, timeout=5).json()["access_token"]
    original = requests.get(
        f"{eeid.url}/api/ident/v1/identification_requests/{request}/proof_of_identity",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).content
    assert base64.b64decode(proof["body"]) == original and original.startswith(b"%PDF-")


def test_an_erased_eeid_session_keeps_its_status_and_its_proof_is_gone(
    deployed: Deployed, eeid: Served
) -> None:
    session = start(deployed)
    request = request_id(eeid)
    eeid.app.complete(request, "match", webhook=False)
    body = event_body(request, session["session_id"])
    deployed.webhook(body, sign(body))
    path = "/v1/sessions/{session_id}/erase"

    def listing() -> dict:
        query = {"page": "1", "page_size": "100"}
        return deployed.api("EeidListFunction", "GET", "/v1/eeid/identifications", query=query)

    assert session["session_id"] in json.dumps(listing()["body"])
    erased = deployed.api("SessionEraseFunction", "POST", path, session_id=session["session_id"])

    assert erased["status"] == 200, erased
    assert erased["body"]["identity"] is None and erased["body"]["erased_at"]
    assert erased["body"]["status"] == "completed" and erased["body"]["reference"] == "order-9"
    again = deployed.session(session["session_id"])
    assert again["identity"] is None and again["erased_at"] == erased["body"]["erased_at"]
    proof = deployed.handler("EeidProofFunction").lambda_handler(
        _proof_event(session["session_id"]), _Context("proof")
    )
    assert proof["statusCode"] == 410 and json.loads(proof["body"])["code"] == "ERASED"
    after = listing()
    assert after["status"] == 200 and session["session_id"] not in json.dumps(after["body"])
    assert request not in json.dumps(after["body"])
    other = deployed.api(
        "SessionEraseFunction", "POST", path, key_id="key-b", session_id=session["session_id"]
    )
    assert other["status"] == 404


def _proof_event(session_id: str) -> dict:
    path = "/v1/sessions/{session_id}/proof"
    return {
        "resource": path,
        "path": f"/v1/sessions/{session_id}/proof",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"session_id": session_id},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "GET",
            "stage": "it",
            "requestId": "it-proof",
            "identity": {"apiKeyId": "it-key-id", "apiKey": "it-key", "sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def test_fallback_waits_grow_so_a_week_costs_a_few_polls(deployed: Deployed, eeid: Served) -> None:
    session = start(deployed)
    time.sleep(3.5)
    eeid.app.complete(request_id(eeid), "expire", webhook=False)
    execution = deployed.execution(session["session_id"], timeout=30, machine=FALLBACK)
    waits = [
        json.loads(e["stateEnteredEventDetails"]["input"])["poll"]["wait_seconds"]
        for e in execution["events"]
        if e.get("stateEnteredEventDetails", {}).get("name") == "Wait"
    ]
    assert waits == sorted(waits) and waits[-1] > waits[0]  # half the session's age, growing
    final = deployed.session(session["session_id"])
    assert final["status"] == "expired" and final["error"]["code"] == "TIMEOUT"


def test_a_webhook_that_cannot_be_processed_frees_its_claim_and_polls_soon(
    deployed: Deployed, eeid: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = start(deployed)
    request = request_id(eeid)
    eeid.app.complete(request, "match", webhook=False)
    checked = eeid_method.METHOD.check
    failures = iter(range(1))

    def flaky(record: object) -> object:
        if in_webhook(deployed) and next(failures, None) is not None:
            raise ProviderUnavailable("eeID could not be reached.")
        return checked(record)  # type: ignore[arg-type]

    monkeypatch.setattr(eeid_method.METHOD, "check", flaky)
    body = event_body(request, session["session_id"])

    first = deployed.webhook(body, sign(body))
    assert first["status"] == 503
    assert deployed.session(session["session_id"])["status"] == "pending"
    # the claim is gone (the next delivery may try at once) and one extra poll loop was started
    sfn_arn = deployed.resolver.physical(FALLBACK).ref.replace(":stateMachine:", ":execution:")
    extra = deployed.sfn.describe_execution(executionArn=f"{sfn_arn}:{session['session_id']}-webhook")
    assert extra["status"] in ("RUNNING", "SUCCEEDED")
    assert deployed.webhook(body, sign(body))["status"] == 204
    assert deployed.session(session["session_id"])["status"] == "completed"


def test_the_webhook_claim_lasts_no_longer_than_the_invocation(
    deployed: Deployed, eeid: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = start(deployed)
    request = request_id(eeid)
    claims: list[float] = []
    claim = SessionService.settle_once

    def spy(self: object, record: object, check: object, *, claim_seconds: float) -> bool:
        claims.append(claim_seconds)
        return claim(self, record, check, claim_seconds=claim_seconds)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionService, "settle_once", spy)
    body = event_body(request, session["session_id"])
    assert deployed.webhook(body, sign(body))["status"] == 204
    # _Context says 15 s remain; the template's webhook timeout is 9 s in AWS
    assert claims and claims[0] <= _Context("x").get_remaining_time_in_millis() / 1000
