"""MarkSign gateway: Mobile-ID and Smart-ID logins, with sanctions and PEP screening on request.

JSON bodies with `access_token` in the body, also for status and DELETE, so the token never rides in
a URL. Errors may come with any HTTP status; the body's `error_code` decides.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from eid_broker.aws import provider_credentials
from eid_broker.certificates import Certificate, pem_from_value
from eid_broker.config import ProviderSettings, get_settings
from eid_broker.errors import (
    Code,
    Outcome,
    ProviderBadResponse,
    ProviderUnavailable,
    SessionOutcomeError,
    outcome_of,
)
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

PROVIDER = "marksign"

# MarkSign error_code → (broker code, message, final session status).
ERROR_CODES: dict[int | str | None, Outcome] = {
    40001: (Code.PROVIDER_ERROR, "MarkSign refused a parameter.", "failed"),
    40003: (Code.PROVIDER_MISCONFIGURED, "MarkSign refused the broker's access token.", "failed"),
    40004: (Code.PROVIDER_ERROR, "MarkSign refused the phone number's format.", "failed"),
    40005: (Code.PROVIDER_ERROR, "MarkSign refused the personal code's format.", "failed"),
    40020: (Code.USER_CANCELLED, "The person refused on the phone.", "failed"),
    40021: (Code.TIMEOUT, "The person did not confirm in time.", "expired"),
    # No Mobile-ID account for this phone and code: for the integrator the same as Dokobit's 6001.
    40401: (Code.NOT_MOBILE_ID_USER, "The person has no Mobile-ID account for this phone.", "failed"),
    40402: (Code.PROVIDER_SESSION_NOT_FOUND, "MarkSign no longer knows this session.", "failed"),
    40403: (Code.PROVIDER_ERROR, "The person's account is not qualified for this service.", "failed"),
    # The certificate is fetched from the phone at start: no answer means the phone is out of reach.
    40801: (Code.PHONE_UNREACHABLE, "The phone did not answer in time.", "failed"),
    50003: (
        Code.PROVIDER_MISCONFIGURED,
        "MarkSign says the broker is not authorised for this service.",
        "failed",
    ),
    50004: (
        Code.PROVIDER_MISCONFIGURED,
        "MarkSign says the broker's client configuration is wrong.",
        "failed",
    ),
}
# Processing, technical and connection errors on MarkSign's side: worth retrying, like a 5xx.
TRANSIENT_CODES = frozenset({50000, 50001, 50002})


class MarkSignCertificate(BaseModel):
    model_config = ConfigDict(extra="ignore")

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


class StatusResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["ok", "waiting", "error"]
    token: str | None = None
    control_code: str | None = None
    country: str | None = None
    code: str | None = None
    name: str | None = None
    surname: str | None = None
    certificate: MarkSignCertificate | None = None
    sanctions_data: list[Any] | dict[str, Any] | None = None
    peps_data: list[Any] | dict[str, Any] | None = None
    message: str | None = None
    error_code: int | None = None


# Smart-ID reads some codes its own way: 40401 is no Smart-ID account, 40403 and 40022 an account or
# document that cannot be used, 40020 a refusal in the app. A phone's codes (40801: the phone did not
# answer) mean nothing there, so they are PROVIDER_ERROR with the code kept.
SMART_ID_CODES: dict[int | str | None, Outcome] = {
    **{code: outcome for code, outcome in ERROR_CODES.items() if code != 40801},
    40401: (Code.NOT_SMART_ID_USER, "The person has no Smart-ID account.", "failed"),
    40403: (
        Code.ACCOUNT_UNUSABLE,
        "The person's Smart-ID account is not qualified for this service.",
        "failed",
    ),
    40022: (Code.ACCOUNT_UNUSABLE, "The person's Smart-ID document cannot be used: check the app.", "failed"),
    40020: (Code.USER_CANCELLED, "The person refused in the Smart-ID app.", "failed"),
}


def outcome_error(
    error_code: int | None, http_status: int, table: dict[int | str | None, Outcome] = ERROR_CODES
) -> Exception:
    if error_code in TRANSIENT_CODES:
        return ProviderUnavailable(f"MarkSign reported a temporary error ({error_code}).")
    if error_code is None and http_status in (401, 403):
        error_code = 40003
    provider_code = error_code if error_code is not None else f"HTTP_{http_status}"
    return outcome_of(table, provider_code, provider=PROVIDER, refused="MarkSign refused the request.")


class MarkSignSettings(ProviderSettings):
    prefix = "MARKSIGN"

    locale: Literal["lt", "en"] = "lt"
    peps_check: bool = True
    sanctions_check: bool = True


class MarkSignClient:
    """Mobile-ID (`/mobile/…`); `MarkSignSmartIdClient` speaks Smart-ID (`/smartid/…`) the same way."""

    provider = PROVIDER
    kind = "mobile"
    codes = ERROR_CODES

    @classmethod
    def configured(cls) -> Self:
        settings = get_settings().provider(MarkSignSettings)
        return cls(
            settings.base_url or "",
            provider_credentials(settings, "access_token")["access_token"],
            shared_session(),
            locale_prefix="/en" if settings.locale == "en" else "",
            peps=settings.peps_check,
            sanctions=settings.sanctions_check,
        )

    def __init__(
        self,
        base_url: str,
        access_token: str,
        http: requests.Session,
        *,
        locale_prefix: str = "",
        peps: bool = False,
        sanctions: bool = False,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = access_token
        self._http = http
        self._prefix = locale_prefix
        self._checks = {"peps": peps, "sanctions": sanctions}

    def _call(self, method: str, path: str, body: dict[str, Any]) -> StatusResponse:
        url = f"{self._base}{path}"
        # 5xx bodies are read too: MarkSign may say there that the broker's configuration is wrong.
        response = send(
            self._http,
            method,
            url,
            provider=PROVIDER,
            unavailable_on_5xx=False,
            json={"access_token": self._token, **body},
        )
        try:
            parsed = StatusResponse.model_validate(json_body(response, provider=PROVIDER))
        except (ValidationError, ProviderBadResponse) as exc:
            if response.status_code >= 500:
                raise ProviderUnavailable(f"MarkSign answered HTTP {response.status_code}.") from exc
            message = f"MarkSign answered HTTP {response.status_code} unreadably."
            raise unreadable(PROVIDER, message, exc) from exc
        if parsed.status == "error" or response.status_code != 200:
            raise outcome_error(parsed.error_code, response.status_code, self.codes)
        return parsed

    def start_login(self, phone: str, personal_code: str) -> LoginStarted:
        """POST /mobile/login.json. Not retried: a second POST would push a second request to the phone."""
        return self._started(
            self._call(
                "POST",
                f"{self._prefix}/mobile/login.json",
                {"phone": phone, "code": personal_code, **self._checks},
            )
        )

    def _started(self, parsed: StatusResponse) -> LoginStarted:
        if not parsed.token or not parsed.control_code:
            raise ProviderBadResponse("MarkSign's login response lacks the token or control code.")
        return LoginStarted(token=parsed.token, control_code=parsed.control_code)

    def login_status(self, token: str) -> ConfirmedPerson | None:
        """POST /mobile/status/{token}.json: a read despite the verb, so retried on 5xx like a GET."""
        parsed = self._status_with_retry(token)
        if parsed.status != "ok":
            return None
        certificate = parsed.certificate.broker() if parsed.certificate else None
        screening = {"sanctions": parsed.sanctions_data or [], "peps": parsed.peps_data or []}
        return confirmed_person(PROVIDER, parsed, certificate, screening)

    def _status_with_retry(self, token: str, attempts: int = 3, backoff: float = 0.3) -> StatusResponse:
        path = f"{self._prefix}/{self.kind}/status/{path_segment(token, provider=PROVIDER)}.json"
        for attempt in range(attempts - 1):
            try:
                return self._call("POST", path, {})
            except ProviderUnavailable:
                time.sleep(backoff * 2**attempt)
        return self._call("POST", path, {})

    def abandon(self, token: str) -> None:
        """DELETE /api/mobile/session/{token}; an already-gone session is fine."""
        try:
            self._call("DELETE", f"/api/{self.kind}/session/{path_segment(token, provider=PROVIDER)}", {})
        except SessionOutcomeError as exc:
            if exc.code != Code.PROVIDER_SESSION_NOT_FOUND and exc.provider_code != "HTTP_404":
                raise


class MarkSignSmartIdClient(MarkSignClient):
    kind = "smartid"
    codes = SMART_ID_CODES

    def start_smart_id(self, personal_code: str, country: str) -> LoginStarted:
        """POST /smartid/login.json. Not retried: a second POST would push a second prompt to the app."""
        body = {"code": personal_code, "country": country, **self._checks}
        return self._started(self._call("POST", f"{self._prefix}/smartid/login.json", body))
