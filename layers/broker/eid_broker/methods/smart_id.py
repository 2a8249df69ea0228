"""What both Smart-ID methods share: the start body (country + personal code, no phone) and the start;
the poll check, the identity and the cancel are Mobile-ID's (the same token / control-code flow)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator

from eid_broker import identifiers
from eid_broker.methods.base import Opening, StartBody, subject_digest
from eid_broker.methods.mobile_id import ControlCodeMethod, MobileIdClient
from eid_broker.providers.base import LoginStarted
from eid_broker.sessions.models import ShowControlCode
from eid_broker.validation import personal_code_problem


class SmartIdStart(StartBody):
    country: Literal["EE", "LT", "LV"] = Field(
        description="The country of the personal code.", examples=["EE"]
    )
    personal_code: str = Field(
        description="EE/LT 11 digits; LV DDMMYY-CNNNN, with or without the hyphen.",
        examples=["30303039914"],
        max_length=12,
        json_schema_extra={"pattern": r"^([1-8][0-9]{10}|[0-9]{6}-?[0-9]{5})$"},
    )

    @field_validator("personal_code")
    @classmethod
    def _personal_code(cls, code: str, info: ValidationInfo) -> str:
        country = info.data.get("country")
        if country == "LV" and len(code) == 11 and code.isascii() and code.isdigit():
            code = f"{code[:6]}-{code[6:]}"  # the form the providers' documents use
        problems = [personal_code_problem(c, code) for c in ([country] if country else ("EE", "LT", "LV"))]
        if all(problems):
            raise ValueError(f"is not a valid personal code of {country or 'EE, LT or LV'}: {problems[0]}")
        return code


class SmartIdClient(MobileIdClient, Protocol):
    def start_smart_id(self, personal_code: str, country: str) -> LoginStarted:
        """Start a login in the person's Smart-ID app; raises SessionOutcomeError for a refusal."""


class SmartIdMethod(ControlCodeMethod[SmartIdStart, SmartIdClient]):
    body = SmartIdStart
    throttle_family = "smart-id"
    person_shares = MappingProxyType({})  # country + code is all Smart-ID matches: it counts at the limit

    def person(self, body: SmartIdStart) -> dict[str, str]:
        return {"personal_code": identifiers.personal_code(body.country, body.personal_code)}

    def begin(self, body: SmartIdStart, session_id: str) -> Opening:
        started = self.client().start_smart_id(body.personal_code, body.country)
        return Opening(
            next_action=ShowControlCode(control_code=started.control_code),
            provider_ref={"token": started.token},
            expected_subject_hmac=subject_digest(body.country, body.personal_code),
        )
