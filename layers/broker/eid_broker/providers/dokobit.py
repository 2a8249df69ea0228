"""Dokobit Identity API: Mobile-ID and Smart-ID logins, each a login call and then status reads.

Form-encoded bodies, `access_token` in the query of every call. The token never leaves this module:
errors and logs name the provider and the HTTP status only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from eid_broker.aws import provider_credentials
from eid_broker.certificates import Certificate, pem_from_value
from eid_broker.config import ProviderSettings, get_settings
from eid_broker.errors import Code, Outcome, ProviderBadResponse, SessionOutcomeError, outcome_of
from eid_broker.http import json_body, path_segment, send, shared_session
from eid_broker.providers.base import (
    ConfirmedPerson,
    LoginStarted,
    confirmed_person,
    null_as_no_object,
    unreadable,
)

if TYPE_CHECKING:
    import requests

PROVIDER = "dokobit"

# Dokobit error_code → (broker code, message, final session status).
ERROR_CODES: dict[int | None, Outcome] = {
    6001: (Code.NOT_MOBILE_ID_USER, "The person is not a Mobile-ID user.", "failed"),
    6005: (Code.TIMEOUT, "The person did not confirm in time.", "expired"),
    7022: (Code.PHONE_UNREACHABLE, "The request could not be sent to the phone.", "failed"),
    7023: (Code.USER_CANCELLED, "The person cancelled on the phone.", "failed"),
}


class DokobitCertificate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    # Smart-ID certificates carry no O/OU: their fields come as null.
    subject: dict[str, str | None] = {}
    issuer: dict[str, str | None] = {}
    valid_from: str | None = None
    _names = field_validator("subject", "issuer", mode="before")(null_as_no_object)
    valid_to: str | None = None
    value: str | None = None

    def broker(self) -> Certificate:
        return Certificate(
            subject={k: v for k, v in self.subject.items() if v is not None},
            issuer={k: v for k, v in self.issuer.items() if v is not None},
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            pem=pem_from_value(self.value),
        )


class DokobitPerson(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    surname: str | None = None
    code: str | None = None
    country: str | None = None
    certificate: DokobitCertificate | None = None


class LoginResponse(DokobitPerson):
    status: Literal["ok", "error"]
    token: str | None = None
    control_code: str | None = None
    message: str | None = None
    error_code: int | None = None


class StatusResponse(DokobitPerson):
    status: Literal["ok", "waiting", "error", "unknown", "canceled"]
    message: str | None = None
    error_code: int | None = None


# Smart-ID's own codes: no account (6006), an account or document that cannot be used (6007, 6008);
# a refusal in the app comes as status `canceled` without a code.
SMART_ID_CODES: dict[int | None, Outcome] = {
    None: (Code.USER_CANCELLED, "The person cancelled in the Smart-ID app.", "failed"),
    6005: ERROR_CODES[6005],
    6006: (Code.NOT_SMART_ID_USER, "The person has no Smart-ID account.", "failed"),
    6007: (Code.ACCOUNT_UNUSABLE, "The person's Smart-ID account cannot be used here (its level).", "failed"),
    6008: (Code.ACCOUNT_UNUSABLE, "The person must check the Smart-ID app or self-service portal.", "failed"),
    7023: ERROR_CODES[7023],
}


def outcome_error(
    error_code: int | None, table: dict[int | None, Outcome] = ERROR_CODES
) -> SessionOutcomeError:
    return outcome_of(table, error_code, provider=PROVIDER, refused="Dokobit refused the request.")


def misconfigured(status_code: int) -> SessionOutcomeError:
    return SessionOutcomeError(
        Code.PROVIDER_MISCONFIGURED,
        "The broker's Dokobit credentials or configuration were refused.",
        provider=PROVIDER,
        provider_code=f"HTTP_{status_code}",
    )


class DokobitSettings(ProviderSettings):
    prefix = "DOKOBIT"


class DokobitClient:
    """Mobile-ID (`/v2/mobile/…`); `DokobitSmartIdClient` speaks Smart-ID through the same API."""

    provider = PROVIDER
    status_path = "/v2/mobile/login/status/{}.json"
    codes = ERROR_CODES
    canceled_code: int | None = 7023

    @classmethod
    def configured(cls) -> Self:
        settings = get_settings().provider(DokobitSettings)
        return cls(
            settings.base_url or "",
            provider_credentials(settings, "access_token")["access_token"],
            shared_session(),
        )

    def __init__(self, base_url: str, access_token: str, http: requests.Session) -> None:
        self._base = base_url.rstrip("/")
        self._token = access_token
        self._http = http

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        response = send(
            self._http,
            method,
            f"{self._base}{path}",
            provider=PROVIDER,
            params={"access_token": self._token},
            **kwargs,
        )
        if response.status_code in (401, 403):
            raise misconfigured(response.status_code)
        body = json_body(response, provider=PROVIDER)
        if response.status_code == 400 or response.status_code == 404:
            raise SessionOutcomeError(
                Code.PROVIDER_ERROR,
                "Dokobit refused the request.",
                provider=PROVIDER,
                provider_code=str(body.get("error_code") or f"HTTP_{response.status_code}"),
            )
        if response.status_code != 200:
            raise ProviderBadResponse(f"Dokobit answered HTTP {response.status_code}.")
        return body

    def start_login(self, phone: str, personal_code: str) -> LoginStarted:
        """POST /v2/mobile/login.json. Not retried: a second POST would push a second request to the phone."""
        return self._started(
            self._call("POST", "/v2/mobile/login.json", data={"phone": phone, "code": personal_code})
        )

    def _started(self, body: dict) -> LoginStarted:
        try:
            parsed = LoginResponse.model_validate(body)
        except ValidationError as exc:
            raise unreadable(PROVIDER, "Dokobit answered an unreadable login response.", exc) from exc
        if parsed.status != "ok":
            raise outcome_error(parsed.error_code, self.codes)
        if not parsed.token or not parsed.control_code:
            raise ProviderBadResponse("Dokobit's login response lacks the token or control code.")
        return LoginStarted(token=parsed.token, control_code=parsed.control_code)

    def login_status(self, token: str) -> ConfirmedPerson | None:
        """GET {status_path} (idempotent: retried on 5xx and connection errors)."""
        body = self._call("GET", self.status_path.format(path_segment(token, provider=PROVIDER)))
        try:
            parsed = StatusResponse.model_validate(body)
        except ValidationError as exc:
            raise unreadable(PROVIDER, "Dokobit answered an unreadable status response.", exc) from exc
        if parsed.status == "error":
            raise outcome_error(parsed.error_code, self.codes)
        if parsed.status == "canceled":
            raise outcome_error(self.canceled_code, self.codes)
        if parsed.status != "ok":
            return None
        return confirmed_person(PROVIDER, parsed, parsed.certificate.broker() if parsed.certificate else None)

    def abandon(self, token: str) -> None:
        """Dokobit has no cancel call for a login (Mobile-ID or Smart-ID); it expires at the provider."""


class DokobitSmartIdClient(DokobitClient):
    """Smart-ID: unversioned paths, its own codes, and a login that names nobody until it is ok."""

    status_path = "/smartid/login/status/{}.json"
    codes = SMART_ID_CODES
    canceled_code = None

    def start_smart_id(self, personal_code: str, country: str) -> LoginStarted:
        """POST /smartid/login.json. Not retried: a second POST would push a second prompt to the app."""
        return self._started(
            self._call("POST", "/smartid/login.json", data={"code": personal_code, "country": country})
        )
