"""The person limits of `/v1` hold on the hosted login page: anyone may open the page of a registered
client and type someone's phone, and the page counts those starts with the API's (same table)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import API_KEY, Stack, launch, stop
from tests.e2e.oidc_support import CALLBACK, MOBILE_ID, Browser, register

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def limited() -> Iterator[Stack]:
    running = launch(PERSON_START_LIMIT="1", PERSON_START_WINDOW_SECONDS="120")
    yield running
    stop(running)


def test_the_page_refuses_a_start_over_the_person_limit_and_shows_why(limited: Stack) -> None:
    client_id = f"rp-{uuid.uuid4().hex[:8]}"
    register(limited.url, API_KEY, client_id, methods=["dokobit-mobile-id"])
    params = {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid"}
    first, second = Browser(limited.url), Browser(limited.url)
    first.open(**params, state="one")
    assert 'id="control-code"' in first.post(action="start", **MOBILE_ID).text
    second.open(**params, state="two")
    refused = second.post(action="start", **MOBILE_ID)
    assert refused.status_code == 429
    assert 'id="problem"' in refused.text and "Too many login attempts" in refused.text
    assert 'id="control-code"' not in refused.text and 'name="phone"' in refused.text
    # the API's own start counts against the same limit
    api = requests.post(
        f"{limited.url}/v1/sessions/dokobit-mobile-id",
        json=MOBILE_ID,
        headers={"x-api-key": API_KEY},
        timeout=30,
    )
    assert api.status_code == 429 and api.json()["code"] == "PERSON_RATE_LIMITED"
