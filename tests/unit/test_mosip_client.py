"""MosipClient against a MOSIP that answers in its AUTH_ERR_* codes, beside the
kernel codes the sandbox uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from eid_broker.config import Settings
from eid_broker.errors import SessionOutcomeError
from eid_broker.http import make_session
from eid_broker.providers.marksign import MarkSignSettings
from eid_broker.providers.mosip import MosipClient
from tests.conftest import Served, serve


class SeedMosip:
    """Answers every call with the envelope a test sets; remembers what it was sent."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append((request.path, request.query_string.decode()))
        return Response(json.dumps(self.answer), content_type="application/json")(environ, start_response)


class NoCache:
    def get(self, key: str, fetch: Any) -> str:
        return "service-token"


@pytest.fixture
def seed() -> Iterator[Served]:
    yield from serve(SeedMosip())


def client(served: Served) -> MosipClient:
    return MosipClient(served.url, "client", "secret", "resident", make_session(), NoCache())  # type: ignore[arg-type]


def errors(code: str, message: str = "") -> dict[str, Any]:
    return {
        "id": "mosip.authentication.useridOTP",
        "ver": "1.0",
        "errors": [{"errorCode": code, "message": message}],
    }


def test_seed_invalid_otp_is_a_wrong_otp(seed: Served) -> None:
    seed.app.answer = errors("AUTH_ERR_INVALIDOTP", "The passed in OTP is invalid")
    assert client(seed).verify_otp("alice", "123456", "resident") is None


def test_seed_expired_otp_expires_the_session(seed: Served) -> None:
    seed.app.answer = errors("AUTH_ERR_EXPIREDOTP", "The passed OTP is expired")
    with pytest.raises(SessionOutcomeError) as expired:
        client(seed).verify_otp("alice", "123456", "resident")
    assert (expired.value.code, expired.value.status) == ("OTP_EXPIRED", "expired")
    assert expired.value.provider_code == "AUTH_ERR_EXPIREDOTP"


@pytest.mark.parametrize("code", ["AUTH_ERR_OTPNOTVALID", "AUTH_ERR_OTPEXPIRED", "KER-OTV-005"])
def test_the_otp_manager_answers_failure_for_wrong_expired_or_missing_otps(seed: Served, code: str) -> None:
    seed.app.answer = errors(code)
    assert client(seed).validate_otp("eidb-0123456789-order-1", "123456")["status"] == "failure"


@pytest.mark.parametrize("weird", [{"errors": ["not an object"]}, {"errors": [{"errorCode": 7}]}])
def test_odd_error_lists_are_a_provider_error_not_a_crash(seed: Served, weird: dict) -> None:
    seed.app.answer = weird
    with pytest.raises(SessionOutcomeError) as refused:
        client(seed).send_otp("alice", "USERID", ["email"], "resident", None)
    assert refused.value.code == "PROVIDER_ERROR"


def test_marksign_screening_is_on_unless_turned_off() -> None:
    on = Settings.from_env({}).provider(MarkSignSettings)
    assert on.peps_check and on.sanctions_check
    off = Settings.from_env({"MARKSIGN_PEPS_CHECK": "false", "MARKSIGN_SANCTIONS_CHECK": "false"})
    assert (
        not off.provider(MarkSignSettings).peps_check and not off.provider(MarkSignSettings).sanctions_check
    )
