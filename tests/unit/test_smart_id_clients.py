"""Both Smart-ID clients against their sandboxes over real HTTP: every persona, the error map, the body."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from eid_broker.errors import ProviderUnavailable, SessionOutcomeError
from eid_broker.http import make_session
from eid_broker.methods.smart_id import SmartIdStart
from eid_broker.providers.base import ConfirmedPerson
from eid_broker.providers.dokobit import DokobitSmartIdClient
from eid_broker.providers.marksign import MarkSignSmartIdClient
from tests.conftest import ACCESS_TOKEN, MARKSIGN_TOKEN, Served

# persona → (country, personal code, session status, code, Dokobit's provider_code, MarkSign's)
PERSONAS = {
    "sid-ok-ee": ("EE", "40504040001", "completed", None, None, None),
    "sid-ok-lv": ("LV", "050405-10009", "completed", None, None, None),
    "sid-ok1": ("LT", "30303039914", "completed", None, None, None),
    "sid-flaky": ("EE", "50001029996", "completed", None, None, None),
    "sid-refused": ("EE", "30403039917", "failed", "USER_CANCELLED", None, "40020"),
    "sid-wrong-vc": ("LT", "30403039972", "failed", "USER_CANCELLED", "7023", "40020"),
    "sid-timeout": ("EE", "30403039983", "expired", "TIMEOUT", "6005", "40021"),
    "sid-unusable": ("EE", "49901010040", "failed", "ACCOUNT_UNUSABLE", "6008", "40022"),
    "sid-not-qualified": ("LT", "40504049999", "failed", "ACCOUNT_UNUSABLE", "6007", "40403"),
    "sid-no-account": ("EE", "39901010038", "failed", "NOT_SMART_ID_USER", "6006", "40401"),
}


def clients(dokobit: Served, marksign: Served) -> dict[str, DokobitSmartIdClient | MarkSignSmartIdClient]:
    return {
        "dokobit": DokobitSmartIdClient(dokobit.url, ACCESS_TOKEN, make_session(backoff=0.01)),
        "marksign": MarkSignSmartIdClient(marksign.url, MARKSIGN_TOKEN, make_session(backoff=0.01)),
    }


def outcome(client: DokobitSmartIdClient | MarkSignSmartIdClient, country: str, code: str) -> object:
    """The person, or the SessionOutcomeError, that the login ends with (polling through faults)."""
    try:
        started = client.start_smart_id(code, country)
        assert started.control_code.isdigit() and len(started.control_code) == 4
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                person = client.login_status(started.token)
            except ProviderUnavailable:
                person = None  # the flaky persona: the session's next poll tries again
            if person is not None:
                return person
            time.sleep(0.1)
    except SessionOutcomeError as refusal:
        return refusal
    raise AssertionError("still waiting")


@pytest.mark.parametrize("provider", ["dokobit", "marksign"])
@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_every_persona_ends_as_documented(
    provider: str, persona: str, dokobit: Served, marksign: Served
) -> None:
    country, code, status, broker_code, dokobit_code, marksign_code = PERSONAS[persona]
    result = outcome(clients(dokobit, marksign)[provider], country, code)
    if status == "completed":
        assert isinstance(result, ConfirmedPerson), result
        assert (result.country, result.code) == (country, code)
        assert result.certificate is not None
        assert result.certificate.subject["serial_number"] == f"PNO{country}-{code}"
        if provider == "marksign":
            assert result.evidence == {"sanctions": [], "peps": []}
        return
    assert isinstance(result, SessionOutcomeError), result
    assert (result.status, result.code) == (status, broker_code)
    assert result.provider_code == (dokobit_code if provider == "dokobit" else marksign_code)


def test_a_latvian_code_without_its_hyphen_is_sent_in_the_documents_form() -> None:
    assert SmartIdStart(country="LV", personal_code="05040510009").personal_code == "050405-10009"
    assert SmartIdStart(country="EE", personal_code="30303039914").personal_code == "30303039914"


@pytest.mark.parametrize(
    "body",
    [
        {"country": "LV", "personal_code": "30303039914"},  # an EE/LT code is not a Latvian one
        {"country": "EE", "personal_code": "30303039915"},  # checksum
        {"country": "EE", "personal_code": "３0303039914"},  # a fullwidth digit
        {"country": "EE", "personal_code": "30303039914\n"},
    ],
)
def test_a_personal_code_that_is_not_of_its_country_names_the_field(body: dict) -> None:
    with pytest.raises(ValidationError) as invalid:
        SmartIdStart(**body)
    assert [error["loc"] for error in invalid.value.errors()] == [("personal_code",)]
    assert body["personal_code"] not in str(invalid.value.errors()[0]["msg"])
