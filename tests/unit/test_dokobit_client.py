"""The Dokobit client against the sandbox over real HTTP: models, error map, retries, masking."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from cryptography import x509

from eid_broker.errors import ProviderUnavailable, SessionOutcomeError
from eid_broker.http import make_session
from eid_broker.providers.dokobit import DokobitClient
from tests.conftest import ACCESS_TOKEN, Served


def client_for(url: str, token: str = ACCESS_TOKEN) -> DokobitClient:
    return DokobitClient(url, token, make_session(backoff=0.01))


def test_login_then_status_yields_person_and_certificate(dokobit: Served) -> None:
    client = client_for(dokobit.url)
    started = client.start_login("+37200000766", "60001019906")
    assert started.control_code.isdigit() and len(started.control_code) == 4
    assert client.login_status(started.token) is None  # waiting
    time.sleep(0.6)
    person = client.login_status(started.token)
    assert person is not None and (person.code, person.country) == ("60001019906", "EE")
    assert person.name == "MARY ÄNN" and person.surname == "O’CONNEŽ-ŠUSLIK TESTNUMBER"
    assert person.certificate is not None
    assert person.certificate.issuer["common_name"] == "TEST of ESTEID-SK 2015"
    assert person.certificate.subject["serial_number"] == "PNOEE-60001019906"
    pem = person.certificate.pem
    assert pem is not None and pem.startswith("-----BEGIN CERTIFICATE-----")
    x509.load_pem_x509_certificate(pem.encode())


@pytest.mark.parametrize(
    ("phone", "code", "expected", "status"),
    [
        ("+37207110066", "60001019947", ("PHONE_UNREACHABLE", "7022"), "failed"),
        ("+37201100266", "60001019950", ("USER_CANCELLED", "7023"), "failed"),
        ("+37201200266", "60001019972", ("TIMEOUT", "6005"), "expired"),
    ],
)
def test_status_errors_map_to_the_broker_vocabulary(
    dokobit: Served, phone: str, code: str, expected: tuple[str, str], status: str
) -> None:
    client = client_for(dokobit.url)
    started = client.start_login(phone, code)
    time.sleep(0.6)
    with pytest.raises(SessionOutcomeError) as raised:
        client.login_status(started.token)
    assert (raised.value.code, raised.value.provider_code, raised.value.status) == (*expected, status)


def test_not_a_mobile_id_user_is_refused_at_login(dokobit: Served) -> None:
    with pytest.raises(SessionOutcomeError) as raised:
        client_for(dokobit.url).start_login("+37200000266", "60001019939")
    assert (raised.value.code, raised.value.provider_code) == ("NOT_MOBILE_ID_USER", "6001")


def test_a_wrong_access_token_is_a_misconfiguration_that_never_shows_the_token(dokobit: Served) -> None:
    with pytest.raises(SessionOutcomeError) as raised:
        client_for(dokobit.url, token="wrong-token-value").start_login("+37200000766", "60001019906")
    assert raised.value.code == "PROVIDER_MISCONFIGURED"
    assert "wrong-token-value" not in repr(raised.value.__dict__)


def test_status_retries_a_5xx_and_succeeds(dokobit: Served) -> None:
    client = client_for(dokobit.url)
    started = client.start_login("+37200000466", "60001019994")  # flaky: first status call is 503
    assert client.login_status(started.token) is None
    assert dokobit.app.stats()["sessions"][0]["status_calls"] == 2


def test_login_is_not_retried_and_an_outage_is_unavailable(dokobit: Served) -> None:
    with pytest.raises(ProviderUnavailable) as raised:
        client_for(dokobit.url).start_login("+37200000366", "60001019983")
    assert dokobit.app.stats()["calls"]["login"] == 1
    assert ACCESS_TOKEN not in str(raised.value)


def test_an_unreachable_provider_is_unavailable_without_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderUnavailable) as raised:
        client_for(f"http://127.0.0.1:{port}").login_status("tok")
    assert ACCESS_TOKEN not in str(raised.value) and "127.0.0.1" not in str(raised.value)
    assert isinstance(raised.value.__cause__, requests.RequestException)
