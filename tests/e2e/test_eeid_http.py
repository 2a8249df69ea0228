"""eeID as a new user meets it with `make run`: link page, signed webhook back to the broker, proof PDF."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
import requests

from tests.conftest import EEID_CLIENT
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
WEBHOOK = "/eeid/webhooks/identification_requests"


def eeid_stats(stack: Stack) -> dict:
    return stack.stats()["sandboxes"]["eeid"]


def start(stack: Stack, subject: str = "EE30303039914") -> dict:
    started = stack.start("eeid", {"subject": subject})
    assert started.status_code == 201, started.text
    return started.json()


def test_a_person_opens_the_link_authenticates_and_the_session_completes(stack: Stack) -> None:
    session = start(stack)
    link = session["next_action"]["url"]
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and "eeID sandbox" in page.text
    assert "30303039914" not in page.text  # the page masks the subject

    chosen = requests.post(f"{link}/authenticate", data={"choice": "match"}, timeout=10)
    assert chosen.status_code == 200
    final = stack.wait_final(session["session_id"], timeout=20)

    assert final["status"] == "completed" and final["next_action"] is None
    assert final["identity"]["subject"] == "EE30303039914" and final["identity"]["surname"] == "TESTNUMBER"
    # the duplicate delivery was acknowledged too, and the broker read the request once per delivery at most
    assert eeid_stats(stack)["webhooks"]["failed"] == 0

    proof = stack.http.get(f"{stack.url}/v1/sessions/{session['session_id']}/proof", timeout=10)
    assert proof.status_code == 200 and proof.headers["Content-Type"] == "application/pdf"
    assert proof.content.startswith(b"%PDF-") and proof.content.rstrip().endswith(b"%%EOF")
    again = stack.http.get(f"{stack.url}/v1/sessions/{session['session_id']}/proof", timeout=10)
    assert again.content == proof.content


def test_a_mismatching_person_fails_the_session(stack: Stack) -> None:
    session = start(stack, "EE39901012239")
    requests.post(f"{session['next_action']['url']}/authenticate", data={"choice": "mismatch"}, timeout=10)
    final = stack.wait_final(session["session_id"], timeout=20)
    assert final["status"] == "failed" and final["error"]["code"] == "CLAIMS_MISMATCH"


def test_a_forged_webhook_is_401_and_changes_nothing(stack: Stack) -> None:
    session = start(stack)
    request_id = session["next_action"]["url"].rsplit("/", 1)[-1]
    body = json.dumps(
        {
            "identification_request_id": request_id,
            "client_id": EEID_CLIENT[0],
            "reference": session["session_id"],
        },
        separators=(",", ":"),
    ).encode()
    reads = eeid_stats(stack)["calls"]["get"]
    forged = hmac.new(b"guessed-secret", body, hashlib.sha256).hexdigest()
    for headers in ({"X-HMAC-Signature": forged}, {}):
        answer = requests.post(f"{stack.url}{WEBHOOK}", data=body, headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert eeid_stats(stack)["calls"]["get"] == reads
    assert stack.get(session["session_id"]).json()["status"] == "pending"
    # a genuine one needs no API key either
    genuine = hmac.new(EEID_CLIENT[1].encode(), body, hashlib.sha256).hexdigest()
    answer = requests.post(
        f"{stack.url}{WEBHOOK}", data=body, headers={"X-HMAC-Signature": genuine}, timeout=10
    )
    assert answer.status_code == 204  # still pending at eeID: acknowledged, nothing recorded
    assert stack.get(session["session_id"]).json()["status"] == "pending"


def test_proof_of_a_non_eeid_session_is_409_and_the_listing_is_paged(stack: Stack) -> None:
    dokobit = stack.start(
        "dokobit-mobile-id", {"phone": "+37200000266", "personal_code": "60001019939"}
    ).json()
    refused = stack.http.get(f"{stack.url}/v1/sessions/{dokobit['session_id']}/proof", timeout=10)
    assert refused.status_code == 409 and refused.json()["code"] == "ACTION_NOT_ALLOWED"

    start(stack)
    listing = stack.http.get(f"{stack.url}/v1/eeid/identifications?page=1&page_size=2", timeout=10)
    assert listing.status_code == 200
    page = listing.json()
    assert page["page_size"] == 2 and len(page["items"]) <= 2 and "total" not in page
    bad = stack.http.get(f"{stack.url}/v1/eeid/identifications?page_size=1000", timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "page_size"


def test_make_run_shows_the_sandbox_webhook_secret_but_nothing_else_secret(stack: Stack) -> None:
    banner = "\n".join(
        stack.output[: next(i for i, line in enumerate(stack.output) if "is ready on" in line)]
    )
    assert re.search(r"eid-broker/local/eeid: client_secret = sandbox-eeid-secret", banner)
    assert "sandbox-dokobit-token" not in banner and "sandbox-marksign-token" not in banner
