"""eeID identification requests: create one with a link for the person, read it, its proof PDF, the listing.

OAuth2 client-credentials token (HTTP Basic, lives 120 s) from the shared token cache; a 401 on a
call drops the cached token, refreshes once and retries once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from eid_broker.config import ProviderSettings
from eid_broker.errors import Code, ProviderBadResponse, SessionOutcomeError
from eid_broker.http import json_body, path_segment, send
from eid_broker.providers.base import TokenClient, unreadable
from eid_broker.tokens import Token

if TYPE_CHECKING:
    import requests

PROVIDER = "eeid"
# eeID must be answered within 10 s when it delivers a webhook: keep every call well inside that.
TIMEOUT = (3.05, 5.0)
REQUESTS = "/api/ident/v1/identification_requests"


class EeidResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    acr: str | None = None
    sub: str | None = None
    auth_time: int | None = None
    given_name: str | None = None
    # The provider document's example says last_name, the OpenAPI schema family_name.
    family_name: str | None = Field(default=None, validation_alias=AliasChoices("family_name", "last_name"))
    date_of_birth: str | None = None
    authentication_type: str | None = None


class IdentificationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["pending", "completed", "expired"]
    link: str | None = None
    link_expires_at: str | None = None
    reference: str | None = None
    completed_at: str | None = None
    result: EeidResult | None = None
    claims_matched: bool | None = None
    mismatched_claims: dict[str, Any] | None = None


def misconfigured(detail: str, status: int) -> SessionOutcomeError:
    return SessionOutcomeError(
        Code.PROVIDER_MISCONFIGURED, detail, provider=PROVIDER, provider_code=f"HTTP_{status}"
    )


class EeidSettings(ProviderSettings):
    prefix = "EEID"


class EeidClient(TokenClient):
    provider = PROVIDER
    settings_model = EeidSettings
    credential_keys = ("client_id", "client_secret")

    def _fetch_token(self) -> Token:
        """POST /api/auth/v1/token with HTTP Basic client credentials."""
        response = send(
            self._http,
            "POST",
            f"{self._base}/api/auth/v1/token",
            provider=PROVIDER,
            auth=(self._client_id, self._secret),
            timeout=TIMEOUT,
        )
        if response.status_code in (400, 401, 403):
            raise misconfigured("eeID refused the broker's client credentials.", response.status_code)
        body = json_body(response, provider=PROVIDER)
        if response.status_code not in (200, 201) or not body.get("access_token"):
            raise ProviderBadResponse(f"eeID's token endpoint answered HTTP {response.status_code}.")
        return Token(str(body["access_token"]), self._clock() + float(body.get("expires_in") or 120))

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self._with_token(
            lambda token: send(
                self._http,
                method,
                f"{self._base}{path}",
                provider=PROVIDER,
                headers={"Authorization": f"Bearer {token}"},
                timeout=TIMEOUT,
                **kwargs,
            ),
            lambda: misconfigured("eeID refused a freshly issued token.", 401),
        )

    def _request(self, response: requests.Response) -> IdentificationRequest:
        try:
            return IdentificationRequest.model_validate(json_body(response, provider=PROVIDER))
        except ValidationError as exc:
            raise unreadable(PROVIDER, "eeID answered an unreadable identification request.", exc) from exc

    def create_request(self, subject: str, reference: str) -> IdentificationRequest:
        """POST /api/ident/v1/identification_requests asking for the `sub` claim."""
        response = self._call(
            "POST",
            REQUESTS,
            json={"reference": reference, "claims_required": [{"type": "sub", "value": subject}]},
        )
        if response.status_code == 422:
            raise SessionOutcomeError(
                Code.PROVIDER_ERROR,
                "eeID refused the identification request.",
                provider=PROVIDER,
                provider_code="HTTP_422",
            )
        if response.status_code not in (200, 201):
            raise ProviderBadResponse(f"eeID answered HTTP {response.status_code} to a new request.")
        return self._request(response)

    def get_request(self, request_id: str) -> IdentificationRequest:
        response = self._call("GET", f"{REQUESTS}/{path_segment(request_id, provider=PROVIDER)}")
        if response.status_code == 404:
            raise SessionOutcomeError(
                Code.PROVIDER_SESSION_NOT_FOUND,
                "eeID no longer knows this identification request.",
                provider=PROVIDER,
                provider_code="HTTP_404",
            )
        if response.status_code != 200:
            raise ProviderBadResponse(f"eeID answered HTTP {response.status_code} to a request read.")
        return self._request(response)

    def list_requests(self, page: int, page_size: int) -> dict[str, Any]:
        response = self._call("GET", REQUESTS, params={"page": page, "page_size": page_size})
        if response.status_code != 200:
            raise ProviderBadResponse(f"eeID answered HTTP {response.status_code} to a listing.")
        return json_body(response, provider=PROVIDER)

    def proof_of_identity(self, request_id: str) -> bytes | None:
        """The proof PDF, or None when eeID has none for this request."""
        segment = path_segment(request_id, provider=PROVIDER)
        response = self._call("GET", f"{REQUESTS}/{segment}/proof_of_identity")
        if response.status_code == 404:
            return None
        if response.status_code != 200 or not response.content.startswith(b"%PDF"):
            raise ProviderBadResponse(f"eeID answered HTTP {response.status_code} without a PDF proof.")
        return response.content
