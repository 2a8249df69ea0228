"""The MarkSign client against the sandbox over real HTTP: token in the body only, error map, evidence."""

from __future__ import annotations

import time

import pytest
import requests
from cryptography import x509

from eid_broker.errors import ProviderUnavailable, SessionOutcomeError
from eid_broker.http import make_session
from eid_broker.providers.marksign import MarkSignClient
from tests.conftest import MARKSIGN_TOKEN, Served


class Recorded:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.session = make_session(backoff=0.01)
        self.session.hooks["response"].append(lambda response, **_: self.urls.append(response.request.url))


@pytest.fixture
def http() -> Recorded:
    return Recorded()


def client_for(
    served: Served, http: Recorded, token: str = MARKSIGN_TOKEN, **options: object
) -> MarkSignClient:
    return MarkSignClient(served.url, token, http.session, **options)  # type: ignore[arg-type]


def test_login_then_status_yields_person_certificate_and_evidence(marksign: Served, http: Recorded) -> None:
    client = client_for(marksign, http)
    started = client.start_login("+37269000366", "60001017705")
    assert client.login_status(started.token) is None
    time.sleep(0.6)
    person = client.login_status(started.token)
    assert person is not None and (person.country, person.code) == ("EE", "60001017705")
    assert (person.name, person.surname) == ("TEN", "TESTNUMBER")
    assert person.certificate is not None and person.certificate.pem is not None
    cert = x509.load_pem_x509_certificate(person.certificate.pem.encode())
    assert "PNOEE-60001017705" in cert.subject.rfc4514_string()
    assert person.certificate.subject["serial_number"] == "PNOEE-60001017705"
    assert "organisation" not in person.certificate.subject  # null in MarkSign's sample
    assert person.evidence == {"sanctions": [], "peps": []}
    # the access token travels in JSON bodies only
    assert http.urls and all(MARKSIGN_TOKEN not in url for url in http.urls)


def test_peps_and_sanctions_are_asked_for_and_kept(marksign: Served, http: Recorded) -> None:
    client = client_for(marksign, http, peps=True, sanctions=True, locale_prefix="/en")
    started = client.start_login("+37269000466", "39001010011")
    time.sleep(0.6)
    person = client.login_status(started.token)
    assert person is not None
    assert person.evidence["peps"][0]["position"] == "Member of Parliament"
    assert person.evidence["sanctions"][0]["list"] == "EU consolidated"
    assert all("/en/mobile/" in url for url in http.urls)


@pytest.mark.parametrize(
    ("phone", "code", "expected"),
    [
        ("+37269000566", "49001010012", ("NOT_MOBILE_ID_USER", "40401", "failed")),
        ("+37269000866", "37001010037", ("PHONE_UNREACHABLE", "40801", "failed")),
        ("+37269001066", "36001010049", ("PROVIDER_MISCONFIGURED", "50003", "failed")),
    ],
)
def test_refusals_at_login_map_to_the_broker_vocabulary(
    marksign: Served, http: Recorded, phone: str, code: str, expected: tuple[str, str, str]
) -> None:
    with pytest.raises(SessionOutcomeError) as raised:
        client_for(marksign, http).start_login(phone, code)
    assert (raised.value.code, raised.value.provider_code, raised.value.status) == expected


@pytest.mark.parametrize(
    ("phone", "code", "expected"),
    [
        ("+37269000666", "38001010020", ("USER_CANCELLED", "40020", "failed")),
        ("+37269000766", "48001010021", ("TIMEOUT", "40021", "expired")),
    ],
)
def test_refusals_while_polling_map_to_the_broker_vocabulary(
    marksign: Served, http: Recorded, phone: str, code: str, expected: tuple[str, str, str]
) -> None:
    client = client_for(marksign, http)
    started = client.start_login(phone, code)
    time.sleep(0.6)
    with pytest.raises(SessionOutcomeError) as raised:
        client.login_status(started.token)
    assert (raised.value.code, raised.value.provider_code, raised.value.status) == expected


def test_a_wrong_access_token_is_a_misconfiguration(marksign: Served, http: Recorded) -> None:
    with pytest.raises(SessionOutcomeError) as raised:
        client_for(marksign, http, token="not-the-token").start_login("+37269000366", "60001017705")
    assert (raised.value.code, raised.value.provider_code) == ("PROVIDER_MISCONFIGURED", "40003")
    assert "not-the-token" not in repr(raised.value.__dict__)


def test_a_technical_error_is_unavailable_and_login_is_not_retried(marksign: Served, http: Recorded) -> None:
    with pytest.raises(ProviderUnavailable):
        client_for(marksign, http).start_login("+37269000966", "47001010030")
    assert marksign.app.stats()["calls"]["login"] == 1


def test_abandon_removes_the_session_at_marksign(marksign: Served, http: Recorded) -> None:
    client = client_for(marksign, http)
    started = client.start_login("+37269001166", "46001010049")
    client.abandon(started.token)
    client.abandon(started.token)  # already gone: fine
    with pytest.raises(SessionOutcomeError) as raised:
        client.login_status(started.token)
    assert (raised.value.code, raised.value.provider_code) == ("PROVIDER_SESSION_NOT_FOUND", "40402")
    assert marksign.app.stats()["calls"]["delete"] == 2


def test_the_status_call_is_retried_on_a_5xx() -> None:
    answers = iter([503, 200])

    def app(environ, start_response):  # a MarkSign that fails once
        status = next(answers)
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [b'{"status": "error", "error_code": 50001}' if status != 200 else b'{"status": "waiting"}']

    from tests.conftest import serve

    served = next(serve(app))
    try:
        assert MarkSignClient(served.url, "t", requests.Session()).login_status("tok") is None
    finally:
        served.server.shutdown()
