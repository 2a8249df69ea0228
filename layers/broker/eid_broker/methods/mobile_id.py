"""The start body shared by the Mobile-ID methods (Dokobit, MarkSign), validated before any provider call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from eid_broker.validation import mobile_country, personal_code_problem


class MobileIdStart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    phone: str = Field(
        description="Mobile number in E.164 form, of Estonia (+372), Lithuania (+3706…) or Latvia (+3712…).",
        examples=["+37200000766"],
        max_length=16,
    )
    personal_code: str = Field(
        description="Personal code of the phone's country: EE/LT 11 digits, LV DDMMYY-CNNNN.",
        examples=["60001019906"],
        max_length=12,
    )
    reference: str | None = Field(
        default=None, description="The integrator's own reference, echoed back.", max_length=128
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
        assert country is not None  # validated above
        return country
