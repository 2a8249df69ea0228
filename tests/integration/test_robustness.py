"""Robustness findings on the real handlers: bad bodies, provider refusals nobody mapped, and
partial failures that must say what is true."""

from __future__ import annotations

import pytest

from eid_broker.errors import InternalUnavailable, SessionOutcomeError
from eid_broker.providers.mosip import MosipClient
from eid_broker.sessions.repository import SessionRepository
from tests.conftest import Served
from tests.integration.conftest import Deployed
from tests.integration.test_mosip import start_otp, submit

EE = {"phone": "+37200000766", "personal_code": "60001019906"}


@pytest.mark.parametrize("body", [[EE], "text", 17, None, True])
def test_a_start_body_that_is_json_but_not_an_object_is_422_naming_body(
    deployed: Deployed, dokobit: Served, body: object
) -> None:
    import json

    event_body = json.dumps(body)
    answer = deployed.api("DokobitStartFunction", "POST", "/v1/sessions/dokobit-mobile-id", raw=event_body)
    assert answer["status"] == 422 and answer["body"]["errors"] == [
        {"field": "body", "message": "must be a JSON object"}
    ]
    assert dokobit.app.stats()["calls"]["login"] == 0


def test_an_unknown_mosip_refusal_of_an_otp_is_502_and_gives_the_attempt_back(
    deployed: Deployed, mosip: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = start_otp(deployed)["body"]["session_id"]

    def refused(*args: object) -> None:
        raise SessionOutcomeError(
            "PROVIDER_ERROR", "MOSIP refused.", provider="mosip", provider_code="KER-NEW-042"
        )

    monkeypatch.setattr(MosipClient, "verify_otp", refused)
    answer = submit(deployed, session_id, "123456")
    assert answer["status"] == 502
    assert answer["body"]["code"] == "PROVIDER_ERROR" and answer["body"]["provider_code"] == "KER-NEW-042"
    session = deployed.session(session_id)
    assert session["status"] == "pending" and session["next_action"]["attempts_left"] == 3


def test_a_start_whose_session_cannot_be_stored_keeps_its_idempotency_key(
    deployed: Deployed, dokobit: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(self: SessionRepository, record: object) -> None:
        raise InternalUnavailable("Sessions could not be stored.")

    monkeypatch.setattr(SessionRepository, "create", lost)
    first = deployed.start(EE, headers={"Idempotency-Key": "order-99"})
    retry = deployed.start(EE, headers={"Idempotency-Key": "order-99"})

    assert first["status"] == 503 and "provider was asked" in first["body"]["detail"]
    assert "nothing was changed" not in first["body"]["detail"]
    # the retry with the same key does not push a second prompt to the phone
    assert retry["status"] == 503 and "new key" in retry["body"]["detail"]
    assert dokobit.app.stats()["calls"]["login"] == 1
