"""What every Mobile-ID method shares: the start body, the start, one poll check, the identity.

A provider plugs in with a client that speaks `MobileIdClient`; nothing here knows a provider's API.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from pydantic import Field, ValidationInfo, field_validator

from eid_broker import identifiers
from eid_broker.certificates import serial_matches
from eid_broker.errors import Code, SessionOutcomeError
from eid_broker.methods.base import Method, Opening, StartBody, subject_digest
from eid_broker.providers.base import ConfirmedPerson, LoginStarted
from eid_broker.sessions.models import Identity, SessionRecord, ShowControlCode
from eid_broker.validation import birth_date, mobile_country, personal_code_problem


class MobileIdStart(StartBody):
    phone: str = Field(
        description="Mobile number in E.164 form, of Estonia (+372), Lithuania (+3706…) or Latvia (+3712…).",
        examples=["+37200000766"],
        max_length=16,
        json_schema_extra={"pattern": r"^\+(372[0-9]{7,8}|3706[0-9]{7}|3712[0-9]{7})$"},
    )
    personal_code: str = Field(
        description="Personal code of the phone's country: EE/LT 11 digits, LV DDMMYY-CNNNN.",
        examples=["60001019906"],
        max_length=12,
        json_schema_extra={"pattern": r"^([1-8][0-9]{10}|[0-9]{6}-[0-9]{5})$"},
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, phone: str) -> str:
        if mobile_country(phone) is None:
            raise ValueError("must be an EE, LT or LV mobile number in E.164 form (+372…, +3706…, +3712…)")
        return phone

    @field_validator("personal_code")
    @classmethod
    def _personal_code(cls, code: str, info: ValidationInfo) -> str:
        country = mobile_country(info.data.get("phone", ""))
        if country is None:
            if all(personal_code_problem(c, code) for c in ("EE", "LT", "LV")):
                raise ValueError("is not a valid EE, LT or LV personal code")
            return code
        problem = personal_code_problem(country, code)
        if problem is not None:
            raise ValueError(f"is not a valid personal code of the phone's country ({country}): {problem}")
        return code

    @property
    def country(self) -> str:
        country = mobile_country(self.phone)
        if country is None:  # the phone validator refuses such a body first
            raise ValueError("the phone belongs to no Mobile-ID country")
        return country


class MobileIdClient(Protocol):
    provider: str

    def start_login(self, phone: str, personal_code: str) -> LoginStarted:
        """Start a login; raises SessionOutcomeError for a refusal, ProviderUnavailable for an outage."""

    def login_status(self, token: str) -> ConfirmedPerson | None:
        """None while the person has not answered; raises SessionOutcomeError for a final refusal."""

    def abandon(self, token: str) -> None:
        """Tell the provider the broker no longer waits (after a cancel)."""


def identity_of(person: ConfirmedPerson) -> Identity:
    country, code = person.country.upper(), person.code
    born = birth_date(country, code)
    return Identity(
        country=country,
        personal_code=code,
        given_name=person.name,
        surname=person.surname,
        date_of_birth=born.isoformat() if born else None,
        subject=f"PNO{country}-{code}",
        certificate=person.certificate,
        evidence=person.evidence,
    )


B = TypeVar("B", bound=StartBody)
C = TypeVar("C", bound=MobileIdClient)


class ControlCodeMethod(Method, Generic[B, C]):
    """A method of the control-code flow (Mobile-ID, Smart-ID): its own start body `B` and a client `C`
    that speaks at least `MobileIdClient`; the poll check, the identity and the cancel are shared."""

    interval_seconds = 3.0
    timeout_seconds = 120.0

    def __init__(self, name: str, client: Callable[[], C], *, summary: str, about: str = "") -> None:
        self.name = name
        self.client = client
        self.summary = summary
        self.description = (
            "Show `next_action.control_code` to the person, then read the session until it is final. " + about
        ).strip()

    def person(self, body: B) -> dict[str, str]:
        raise NotImplementedError

    def begin(self, body: B, session_id: str) -> Opening:
        raise NotImplementedError

    def check(self, record: SessionRecord) -> Identity | None:
        """One status call. None while the person has not answered."""
        client = self.client()
        person = client.login_status(record.provider_ref["token"])
        if person is None:
            return None
        identity = identity_of(person)
        serial = person.certificate.subject.get("serial_number") if person.certificate else None
        if record.expected_subject_hmac != subject_digest(identity.country or "", person.code) or not (
            serial_matches(serial, person.country.upper(), person.code)
        ):
            raise SessionOutcomeError(
                Code.IDENTITY_MISMATCH,
                "The provider confirmed a different person than the one asked for.",
                provider=client.provider,
            )
        return identity

    def abandon(self, record: SessionRecord) -> None:
        self.client().abandon(record.provider_ref["token"])


class MobileIdMethod(ControlCodeMethod[MobileIdStart, MobileIdClient]):
    body = MobileIdStart
    throttle_family = "mobile-id"
    person_shares = MappingProxyType({"phone": 3, "personal_code": 3})

    def person(self, body: MobileIdStart) -> dict[str, str]:
        """The pair the provider matches, and each half loosely (the halves at 3 x the limit)."""
        number, code = (
            identifiers.phone(body.phone),
            identifiers.personal_code(body.country, body.personal_code),
        )
        return {"pair": f"{number}|{code}", "phone": number, "personal_code": code}

    def begin(self, body: MobileIdStart, session_id: str) -> Opening:
        started = self.client().start_login(body.phone, body.personal_code)
        return Opening(
            next_action=ShowControlCode(control_code=started.control_code),
            provider_ref={"token": started.token},
            expected_subject_hmac=subject_digest(body.country, body.personal_code),
        )
